// Browser tests for email as a channel (docs/protocol.md, "Email"): in the agent panel the
// composer answers a conversation by email ("Answer by email" on a chat that is not the agent's
// active one, "Email" in one that is), the message is marked "by email" in the panel and reaches
// the widget live, and the visitor's mailed answer, handed to the server's LMTP socket as Postfix
// would, arrives live in both, with the whole mail to expand in the panel.
//
// Registered into run.mjs's TAP stream like transcript.mjs; its own redis-server and beckon.
import { createConnection } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startInstance } from './instances.mjs';
import { smtpSink } from './transcript.mjs';

export function emailTests(h) {
  const { test, W, newPage, waitFor, assert } = h;
  const AGENT = 'erik', PASSWORD = 'erik-password-1';

  // An LMTP client: one mail to one recipient; resolves with the recipient's reply line.
  function lmtpDeliver(path, from, to, raw) {
    return new Promise((resolve, reject) => {
      const sock = createConnection(path);
      const steps = [`LHLO browser.test`, `MAIL FROM:<${from}>`, `RCPT TO:<${to}>`, 'DATA',
        raw.replace(/\r?\n/g, '\r\n').replace(/\r\n\./g, '\r\n..') + '\r\n.', 'QUIT'];
      let buf = '', step = -1, answer = null;
      sock.setEncoding('utf8');
      sock.on('error', reject);
      sock.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\r\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (line[3] === '-') continue;   // a multi-line reply goes on
          if (step === 4) answer = line;   // the recipient's answer to the mail
          if (++step < steps.length) sock.write(steps[step] + '\r\n');
          else { sock.end(); resolve(answer); }
        }
      });
    });
  }

  test('email: the panel answers a waiting chat by email (marked in the panel and the widget); the visitor\'s mailed reply arrives live in both', async () => {
    const sink = await smtpSink();
    const lmtp = join(h.tmp, 'email-lmtp.sock');
    const { base } = await startInstance(h, 'email', { agents: { [AGENT]: PASSWORD }, flags: [
      '--smtp-host', '127.0.0.1', '--smtp-port', String(sink.port), '--smtp-from', 'chat@shop.example',
      '--mail-reply-address', 'reply@support.example', '--lmtp-socket', lmtp] });

    // The panel first: with an agent online the widget offers the chat.
    const panel = await newPage(await h.browser.newContext({ viewport: { width: 1440, height: 860 } }), 'email-panel');
    await panel.goto(`${base}/agent/`);
    await panel.fill('#login-name', AGENT);
    await panel.fill('#login-password', PASSWORD);
    await panel.click('#login-submit');
    await panel.locator('#conn[data-state=online]').waitFor();

    // A visitor who said who they are asks, and waits.
    const vc = await h.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(vc, 'email-visitor');
    await p.addInitScript(() => { window.Beckon = { q: [['identify', { name: 'Ann', email: 'ann.visitor@gmail.example' }]] }; });
    await p.goto(`${base}/demo/index.html`);
    await W(p, '.bubble').click();
    await W(p, 'textarea#bk-input').fill('Do you have the sweater in blue?');
    await p.keyboard.press('Enter');

    // The agent opens the waiting chat: without accepting it, it can be answered by email only.
    const item = panel.locator('#queue .item').filter({ hasText: 'Do you have the sweater in blue?' });
    await item.waitFor();
    await item.click();
    assert(await panel.locator('#composer').isHidden(), 'no composer before "Answer by email"');
    await panel.click('#email-answer');
    await panel.locator('#composer.email-mode').waitFor();
    assert(await panel.locator('#send').textContent() === 'Send by email', 'the send button says email');
    await panel.fill('#input', 'Yes, in blue and green. Reply to this mail to order.');
    await panel.click('#send');
    const sent = panel.locator('#log .msg.agent.email').filter({ hasText: 'Yes, in blue and green.' });
    await sent.waitFor();
    assert(/by email/.test(await sent.locator('.channel').textContent()), 'the panel marks it by email');
    await waitFor('the mail', () => sink.mails.length === 1);
    const mail = sink.mails[0];
    assert(mail.to[0] === 'ann.visitor@gmail.example', JSON.stringify(mail.to));
    const replyTo = /\r\nReply-To: (\S+)\r\n/.exec(mail.data)[1];
    const messageId = /\r\nMessage-ID: (\S+)\r\n/.exec(mail.data)[1];
    assert(/^reply\+c_[0-9a-f_]+\.[0-9a-f]{16}@support\.example$/.test(replyTo), replyTo);
    // The visitor, still on the page, sees it live, marked as the answer that went by email.
    const live = W(p, '.message.agent').filter({ hasText: 'Yes, in blue and green.' });
    await live.waitFor();
    assert(await live.locator('.channel').textContent() === 'by email', 'the widget marks it by email');

    // The visitor answers from Gmail; the MTA hands the mail to the LMTP socket.
    const raw = readFileSync(join(h.ROOT, 'tests/integration/mail/gmail_alternative.eml'), 'latin1')
      .replaceAll('{{TO}}', replyTo).replaceAll('{{IN_REPLY_TO}}', messageId).replaceAll('{{REFERENCES}}', messageId)
      .replaceAll('{{UNIQUE}}', 'browser1');
    const answer = await lmtpDeliver(lmtp, 'ann.visitor@gmail.example', replyTo, raw);
    assert(/^250 /.test(answer || ''), `LMTP answered ${answer}`);
    const reply = panel.locator('#log .msg.visitor.email').filter({ hasText: 'The blue one, size M' });
    await reply.waitFor();
    assert(/from ann\.visitor@gmail\.example/.test(await reply.locator('.channel').textContent()), 'the sender is named');
    await reply.locator('.whole-mail summary').click();
    assert(/we have it in blue and green/i.test(await reply.locator('.whole-mail pre').textContent()), 'the whole mail expands');
    await W(p, '.message.visitor').filter({ hasText: 'The blue one, size M' }).waitFor();
    for (const x of [panel, p]) await x.context().close();
    sink.close();
  });
}
