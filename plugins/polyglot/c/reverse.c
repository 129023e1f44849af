// An example plugin in C with wasi-libc and no PDK: it declares the Extism
// host functions it uses. The task reverse takes text (the manifest says
// input = "text", output = "text") and returns it with its characters (UTF-8
// sequences) in reverse order.
//
//   clang --target=wasm32-wasi -O2 -mexec-model=reactor -o reverse.wasm reverse.c
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("extism:host/env"), import_name(name)))

IMPORT("input_length") uint64_t input_length(void);
IMPORT("input_load_u8") uint8_t input_load_u8(uint64_t);
IMPORT("alloc") uint64_t alloc(uint64_t);
IMPORT("store_u8") void store_u8(uint64_t, uint8_t);
IMPORT("output_set") void output_set(uint64_t, uint64_t);
IMPORT("error_set") void error_set(uint64_t);

// set_error reports msg as the call's error.
static int32_t set_error(const char *msg) {
  size_t n = strlen(msg);
  uint64_t off = alloc(n);
  for (size_t i = 0; i < n; i++) store_u8(off + i, (uint8_t)msg[i]);
  error_set(off);
  return 1;
}

// seq_len is the length of the UTF-8 sequence that starts with b, 0 for a
// byte that cannot start one.
static size_t seq_len(uint8_t b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 0;
}

__attribute__((export_name("reverse"))) int32_t reverse(void) {
  uint64_t n = input_length();
  char *in = malloc(n + 1), *out = malloc(n + 1);
  if (!in || !out) return set_error("out of memory");
  for (uint64_t i = 0; i < n; i++) in[i] = (char)input_load_u8(i);
  size_t i = 0;
  while (i < n) {
    size_t k = seq_len((uint8_t)in[i]);
    if (k == 0 || i + k > n) {
      free(in);
      free(out);
      return set_error("{\"taskhost_error\":{\"kind\":\"bad_input\",\"message\":\"the text is not valid UTF-8\",\"retryable\":false}}");
    }
    memcpy(out + n - i - k, in + i, k);
    i += k;
  }
  uint64_t off = alloc(n);
  for (uint64_t j = 0; j < n; j++) store_u8(off + j, (uint8_t)out[j]);
  output_set(off, n);
  free(in);
  free(out);
  return 0;
}
