// Quick SMTP throughput check of the sandbox (build first: `npm run build`):
//   node services/sandbox/bench/smtp-throughput.cjs [messages=2000] [connections=5]
// Starts the sandbox SMTP server in this process (logging at info to /dev/null, as a running
// sandbox would), and sends `messages` from a child process with nodemailer's pooled transport.
const { fork } = require('node:child_process');

if (process.argv[2] === '--client') {
  const nodemailer = require('nodemailer');
  const [, , , port, total, connections] = process.argv;
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: Number(port), pool: true, maxConnections: Number(connections), maxMessages: Infinity });
  const body = 'Your budget for the event is ready.\n'.repeat(20);
  const html = `<p>${body.replace(/\n/g, '<br>')}</p>`;
  (async () => {
    let next = 0;
    const started = process.hrtime.bigint();
    const worker = async () => {
      while (next < Number(total)) {
        const n = next++;
        await transport.sendMail({
          from: 'CRM <noreply@crm.test>', to: `client${n}@example.com`, subject: `Budget ${n}`, text: body, html,
          headers: { 'X-CRM-Communication-Id': `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` },
        });
      }
    };
    await Promise.all(Array.from({ length: Number(connections) * 4 }, worker));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    transport.close();
    process.send({ seconds });
  })().catch((error) => { process.send({ error: String(error) }); });
} else {
  const { startSandbox } = require('../dist/index.js');
  const { createLogger } = require('@crm/observability');
  const total = Number(process.argv[2] ?? 2000);
  const connections = Number(process.argv[3] ?? 5);
  (async () => {
    const logger = createLogger({ service: 'sandbox-bench', level: 'info', destination: require('pino').destination({ dest: '/dev/null', sync: false }) });
    const sandbox = await startSandbox({ logger });
    const cpuBefore = process.cpuUsage();
    const child = fork(__filename, ['--client', String(sandbox.smtpPort), String(total), String(connections)]);
    const result = await new Promise((resolve) => child.once('message', resolve));
    const cpu = process.cpuUsage(cpuBefore);
    await sandbox.stop();
    if (result.error) throw new Error(result.error);
    const stored = sandbox.mailbox.size;
    process.stdout.write(`${total} messages, ${connections} connections: ${result.seconds.toFixed(2)} s, ${Math.round(total / result.seconds)} msgs/s; sandbox CPU ${Math.round((cpu.user + cpu.system) / total)} µs/msg (mailbox holds ${stored})\n`);
  })().catch((error) => { process.stderr.write(`${error.stack}\n`); process.exit(1); });
}
