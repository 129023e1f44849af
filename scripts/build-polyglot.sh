#!/usr/bin/env bash
# Builds the example plugins in other languages into OUT (default
# dist/polyglot), each when its toolchain is present; a missing one is
# skipped with a message saying what to install.
#
#   C               clang, lld, wasi-libc, libclang-rt-14-dev-wasm32 (Debian)
#   Rust            Debian's rustc and libstd-rust-dev-wasm32 (/usr/bin/rustc;
#                   rustup's toolchains have no offline wasm std here)
#   AssemblyScript  node and npm (npm install fetches assemblyscript and
#                   @extism/as-pdk into plugins/polyglot/assemblyscript)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist/polyglot}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
src=plugins/polyglot
built=0

if command -v clang >/dev/null && [ -f /usr/lib/wasm32-wasi/libc.a ] && ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1; then
	clang --target=wasm32-wasi -O2 -mexec-model=reactor -o "$out/reverse.wasm" "$src/c/reverse.c" && built=$((built + 1))
else
	echo "polyglot: skipped C (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)"
fi

if [ -x /usr/bin/rustc ] && /usr/bin/rustc --print sysroot 2>/dev/null | xargs -I{} test -d {}/lib/rustlib/wasm32-wasi; then
	/usr/bin/rustc --target wasm32-wasi --crate-type cdylib -O -C strip=debuginfo -o "$out/word_stats.wasm" "$src/rust/word_stats.rs" && built=$((built + 1))
else
	echo "polyglot: skipped Rust (apt-get install rustc libstd-rust-dev-wasm32)"
fi

if command -v npm >/dev/null; then
	(
		cd "$src/assemblyscript" &&
			{ [ -d node_modules/assemblyscript ] || npm install --no-audit --no-fund --silent; } &&
			npx --no-install asc title_case.ts --outFile "$out/title_case.wasm" --use abort=title_case/abort --optimize
	) && built=$((built + 1))
else
	echo "polyglot: skipped AssemblyScript (install node and npm)"
fi
echo "polyglot: $built plugins built into $out"
