// A freestanding C plugin that speaks the Extism ABI directly, without libc
// or a PDK: echo returns its input. Built with
//   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export-dynamic
#include <stdint.h>

#define IMPORT(name) __attribute__((import_module("extism:host/env"), import_name(name)))

IMPORT("input_length") uint64_t input_length(void);
IMPORT("input_load_u64") uint64_t input_load_u64(uint64_t);
IMPORT("input_load_u8") uint8_t input_load_u8(uint64_t);
IMPORT("alloc") uint64_t alloc(uint64_t);
IMPORT("store_u64") void store_u64(uint64_t, uint64_t);
IMPORT("store_u8") void store_u8(uint64_t, uint8_t);
IMPORT("output_set") void output_set(uint64_t, uint64_t);
IMPORT("error_set") void error_set(uint64_t);

__attribute__((export_name("echo"))) int32_t echo(void) {
  uint64_t n = input_length();
  uint64_t out = alloc(n);
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) store_u64(out + i, input_load_u64(i));
  for (; i < n; i++) store_u8(out + i, input_load_u8(i));
  output_set(out, n);
  return 0;
}

static int depth(int n) {
  volatile char pad[256];
  pad[n & 255] = (char)n;
  return depth(n + 1) + pad[0];
}

// recurse recurses with a 256-byte frame on C's shadow stack (in linear
// memory) until it runs off the bottom of memory.
__attribute__((export_name("recurse"))) int32_t recurse(void) { return depth(0); }

// A call through a volatile pointer cannot be turned into a loop, and keeps
// nothing on the shadow stack: this recursion overflows the WebAssembly
// call stack itself.
static int deep(int n);
static int (*volatile deep_ptr)(int) = deep;
static int deep(int n) { return deep_ptr(n + 1) + 1; }

__attribute__((export_name("recurse_native"))) int32_t recurse_native(void) { return deep(0); }

// spin loops forever.
__attribute__((export_name("spin"))) int32_t spin(void) {
  for (volatile int i = 0;; i++) {
  }
  return 0;
}
