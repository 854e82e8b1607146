// Parse Mermaid diagrams with the real Mermaid library, under Node.
//
// stdin: a JSON array of diagram texts.  stdout: a JSON array, one result per text:
//   {"ok": true, "type": "flowchart-v2", "nodes": {id: {"shape", "classes", "lines"}},
//    "edges": [{"start", "end", "stroke", "text"}]}
// or {"ok": false, "error": "Parse error on line 3: ..."}.
//
// "lines" is the label as a browser shows it: Mermaid's own entity placeholders
// turned back into HTML entities (as its decodeEntities does before rendering),
// then parsed as HTML by jsdom, <br> being a line break.  Mermaid needs a DOM for
// its sanitizer even to parse, so jsdom provides `window` first.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

function shown(text) {
  // mermaid's decodeEntities: "ﬂ°°" -> "&#", "ﬂ°" -> "&", "¶ß" -> ";"
  const html = text.replace(/ﬂ°°/g, "&#").replace(/ﬂ°/g, "&").replace(/¶ß/g, ";");
  const div = document.createElement("div");
  div.innerHTML = html;
  for (const br of [...div.querySelectorAll("br")]) br.replaceWith("\n");
  return div.textContent.split("\n");
}

async function check(text) {
  try {
    await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const nodes = {};
    for (const [id, v] of diagram.db.getVertices()) {
      nodes[id] = { shape: v.type, classes: v.classes, lines: shown(v.text ?? "") };
    }
    const edges = diagram.db.getEdges().map((e) => ({
      start: e.start, end: e.end, stroke: e.stroke, text: shown(e.text ?? "").join("\n"),
    }));
    return { ok: true, type: diagram.type, nodes, edges };
  } catch (error) {
    return { ok: false, error: String(error?.message ?? error) };
  }
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const texts = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const results = [];
for (const text of texts) results.push(await check(text));
process.stdout.write(JSON.stringify(results));
