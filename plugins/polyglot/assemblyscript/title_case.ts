// An example plugin in AssemblyScript with Extism's PDK (@extism/as-pdk):
// the task title_case takes text (input = "text" in the manifest) and
// returns it with the first letter of every word upper-cased (output =
// "text").
//
//   npx asc title_case.ts --outFile title_case.wasm --use abort=title_case/abort --optimize
import { Host } from "@extism/as-pdk";

// abort replaces AssemblyScript's default, which imports env.abort; a plugin
// may import only what the host provides.
export function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  unreachable();
}

export function title_case(): i32 {
  const text = Host.inputString();
  let out = "";
  let start = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    out += start ? c.toUpperCase() : c;
    start = c == " " || c == "\n" || c == "\t";
  }
  Host.outputString(out);
  return 0;
}
