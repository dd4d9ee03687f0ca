// What the AI SDK's OpenAI-compatible provider makes of scripted chat streams: the ground truth the streamed-tool-calls
// check's `ai-sdk` rebuild is held to.
//
//   node --require harness/loopback_only.cjs harness/ai_sdk_stream.mjs <dir holding node_modules> < streams.json
//
// stdin: {"<name>": [chunk, …], …}, each a chat stream's JSON chunks. Each is served as SSE (ending in `data: [DONE]`) by
// a server on 127.0.0.1, and read by the provider's chat model (`doStream`). stdout: {"<name>": {"calls": [[id, name,
// input], …], "error": text or null, "finish": raw finish_reason or null}}. Bounded: one request per stream, 10 s each.
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
const entry = createRequire(path.join(dir, 'package.json')).resolve('@ai-sdk/openai-compatible');
const { createOpenAICompatible } = await import(pathToFileURL(entry).href);

let input = '';
for await (const piece of process.stdin) input += piece;
const streams = JSON.parse(input);

let current = [];
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const chunk of current) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    res.end('data: [DONE]\n\n');
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const provider = createOpenAICompatible({ name: 'gateway', baseURL: `http://127.0.0.1:${server.address().port}/v1`, apiKey: 'sk-unused' });
const model = provider.chatModel('candidate');
const tools = [{ type: 'function', name: 'read_file', inputSchema: { type: 'object', properties: { path: { type: 'string' } } } }];

const results = {};
for (const [name, chunks] of Object.entries(streams)) {
  current = chunks;
  const got = { calls: [], error: null, finish: null };
  try {
    const { stream } = await model.doStream({ prompt: [{ role: 'user', content: [{ type: 'text', text: 'Read README.md' }] }], tools,
                                              abortSignal: AbortSignal.timeout(10000) });
    for await (const part of stream) {
      if (part.type === 'tool-call') got.calls.push([part.toolCallId, part.toolName, part.input]);
      if (part.type === 'error' && got.error === null) got.error = String(part.error?.message ?? part.error);
      if (part.type === 'finish') got.finish = part.finishReason?.raw ?? null;
    }
  } catch (error) {
    got.error = `threw: ${error?.message ?? error}`;
  }
  results[name] = got;
}
server.close();
process.stdout.write(JSON.stringify(results));
