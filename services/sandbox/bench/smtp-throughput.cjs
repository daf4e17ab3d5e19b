// Quick SMTP throughput check of the sandbox (build first: `npm run build`):
//
//   node services/sandbox/bench/smtp-throughput.cjs [messages=2000] [connections=5]
//     the sandbox in this process (logging at info to /dev/null, as a running sandbox would);
//     a child process sends `messages` with nodemailer's pooled transport (maxConnections
//     `connections`), as the email worker does. Prints msgs/s and the sandbox's CPU per message.
//
//   node services/sandbox/bench/smtp-throughput.cjs [messages=4000] [connections=5] --raw
//     the server's own capacity: a cheap client in this process writes a prebuilt 2 KB
//     multipart message over `connections` raw SMTP sessions.
const { fork } = require('node:child_process');
const net = require('node:net');

const [, , first, second, third] = process.argv;
const raw = third === '--raw';

async function startQuietSandbox() {
  const { startSandbox } = require('../dist/index.js');
  const { createLogger } = require('@crm/observability');
  const destination = require('pino').destination({ dest: '/dev/null', sync: false });
  return startSandbox({ logger: createLogger({ service: 'sandbox-bench', level: 'info', destination }) });
}

const body = 'Your budget for the event is ready.\n'.repeat(20);

async function nodemailerClient(port, total, connections) {
  const nodemailer = require('nodemailer');
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, pool: true, maxConnections: connections, maxMessages: Infinity });
  const html = `<p>${body.replace(/\n/g, '<br>')}</p>`;
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < total) {
      const n = next++;
      await transport.sendMail({
        from: 'CRM <noreply@crm.test>', to: `client${n}@example.com`, subject: `Budget ${n}`, text: body, html,
        headers: { 'X-CRM-Communication-Id': `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` },
      });
    }
  };
  await Promise.all(Array.from({ length: connections * 4 }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  transport.close();
  return seconds;
}

function rawSession(port) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  let buffered = '';
  const pending = [];
  socket.on('data', (chunk) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\r\n'); end >= 0; end = buffered.indexOf('\r\n')) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (/^\d{3} /.test(line)) pending.shift()(line);
    }
  });
  const reply = () => new Promise((resolve) => pending.push(resolve));
  const greeting = reply();
  return { greeting, command: (text) => { const answer = reply(); socket.write(text); return answer; } };
}

const rawMessage = (n) => {
  const text = body.replace(/\n/g, '\r\n');
  return [
    'From: CRM <noreply@crm.test>', `To: client${n}@example.com`, `Subject: Budget ${n}`,
    `X-CRM-Communication-Id: 00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, `Message-ID: <${n}@crm.test>`,
    'MIME-Version: 1.0', 'Content-Type: multipart/alternative; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain; charset=utf-8', '', text, '--b1', 'Content-Type: text/html; charset=utf-8', '', `<p>${text}</p>`, '--b1--', '.', '',
  ].join('\r\n');
};

async function rawClient(port, total, connections) {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: connections }, async () => {
    const session = rawSession(port);
    await session.greeting;
    await session.command('EHLO bench.test\r\n');
    while (next < total) {
      const n = next++;
      await session.command('MAIL FROM:<noreply@crm.test>\r\n');
      await session.command(`RCPT TO:<client${n}@example.com>\r\n`);
      await session.command('DATA\r\n');
      const answer = await session.command(rawMessage(n));
      if (!answer.startsWith('250')) throw new Error(answer);
    }
    await session.command('QUIT\r\n');
  }));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

if (first === '--client') {
  nodemailerClient(Number(second), Number(third), Number(process.argv[5])).then(
    (seconds) => process.send({ seconds }),
    (error) => process.send({ error: String(error) }),
  );
} else {
  const total = Number(first ?? (raw ? 4000 : 2000));
  const connections = Number(second ?? 5);
  (async () => {
    const sandbox = await startQuietSandbox();
    const cpuBefore = process.cpuUsage();
    let seconds;
    if (raw) {
      seconds = await rawClient(sandbox.smtpPort, total, connections);
    } else {
      const child = fork(__filename, ['--client', String(sandbox.smtpPort), String(total), String(connections)]);
      const result = await new Promise((resolve) => child.once('message', resolve));
      if (result.error) throw new Error(result.error);
      seconds = result.seconds;
    }
    const cpu = process.cpuUsage(cpuBefore);
    await sandbox.stop();
    const who = raw ? 'sandbox + raw client' : 'sandbox';
    process.stdout.write(
      `${total} messages, ${connections} connections${raw ? ' (raw SMTP)' : ' (nodemailer pool)'}: ${seconds.toFixed(2)} s, ` +
        `${Math.round(total / seconds)} msgs/s; ${who} CPU ${Math.round((cpu.user + cpu.system) / total)} µs/msg (mailbox holds ${sandbox.mailbox.size})\n`,
    );
  })().catch((error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  });
}
