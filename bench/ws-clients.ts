// Child process for fan-out/latency: N WebSocket clients subscribed to one channel; each event's
// lag = receive time - data.ingest_time. Controlled over IPC: {cmd:'stop'} -> {lags, received, closed}.
import WebSocket from 'ws';

const [url, nStr, sub] = process.argv.slice(2);
const n = Number(nStr);
const lags: number[] = [];
let opened = 0, closed = 0, received = 0;
const sockets: WebSocket[] = [];
for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url!, { perMessageDeflate: false });
  sockets.push(ws);
  ws.on('open', () => { opened++; if (sub) ws.send(sub); if (opened === n) process.send!({ ready: true }); });
  ws.on('message', (d) => {
    const s = d.toString();
    if (!s.startsWith('{"op":"event"')) return;
    const m = JSON.parse(s) as { data: { ingest_time: number } };
    received++;
    lags.push(Date.now() - m.data.ingest_time);
  });
  ws.on('close', () => { closed++; });
  ws.on('error', () => undefined);
}
process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'reset') { lags.length = 0; received = 0; return; }
  if (m.cmd === 'stop') {
    for (const s of sockets) s.terminate();
    process.send!({ lags, received, closed, opened }, () => process.exit(0));
  }
});
setTimeout(() => process.exit(2), 15 * 60_000).unref();
