// Browser tests for files in chat (docs/widget.md "Files", docs/protocol.md "Files"), both sides:
// the visitor attaches by the button, by dropping onto the chat window and by pasting a screenshot;
// uploads show progress and can be cancelled (nothing is left); the agent sees the thumbnail,
// opens it full size and downloads a PDF by its name; the agent sends a file the visitor sees;
// HTML saved as .png is refused in the server's words; a retry after a dropped connection
// stores the file once. Registered into run.mjs's TAP stream: filesTests({ test, ctx, ... }).
// Self-contained (BECKON_BROWSER_ONLY=files runs them alone): alice signs in here.
import { deflateSync, crc32, gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// A real PNG (width × height, RGB, a gradient) made here: the server decodes and re-encodes it.
function png(width, height) {
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    data.copy(out, 8);
    out.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'latin1'), data])), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0); header.writeUInt32BE(height, 4);
  header[8] = 8; header[9] = 2; // 8 bits, RGB
  const rows = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = y * (1 + width * 3) + 1 + x * 3;
      rows[at] = (x * 255 / width) | 0; rows[at + 1] = (y * 255 / height) | 0; rows[at + 2] = 160;
    }
  }
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n' +
  'trailer <</Root 1 0 R>>\n%%EOF\n');

export function filesTests(h) {
  const { test, ctx, W, newPage, waitFor, assert, sleep } = h;
  const F = {}; // state shared between these steps

  // The widget's shadow root, queried in the page.
  const inWidget = (p, fn, arg) => p.evaluate(fn, arg);

  async function visitorWithChat(text) {
    const context = await h.browser().newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(context, 'files-visitor');
    const scripts = [];
    p.on('request', (r) => { if (/beckon-files\.js/.test(r.url())) scripts.push(r.url()); });
    await p.goto(`${ctx.base}/demo/`);
    await W(p, '.bubble').waitFor();
    await sleep(300);
    assert(scripts.length === 0, 'beckon-files.js loaded before the chat opened');
    await W(p, '.bubble').click();
    await W(p, 'button.attach').waitFor();
    assert(scripts.length === 1, `beckon-files.js requests: ${scripts.length}`);
    await W(p, 'textarea#bk-input').fill(text);
    await p.keyboard.press('Enter');
    await W(p, '.message.visitor[data-id] .delivery').filter({ hasText: 'Sent' }).waitFor();
    const a = F.agent;
    await a.locator('#queue .item').filter({ hasText: text }).click();
    await a.click('#accept');
    await W(p, '.message.system').filter({ hasText: 'joined the chat' }).waitFor();
    return p;
  }
  const loaded = (locator) => locator.evaluate((img) => img.complete && img.naturalWidth > 0);

  test('files: beckon-files.js is loaded once the chat opens, and both scripts are small', async () => {
    for (const name of ['beckon.js', 'beckon-files.js']) {
      const size = gzipSync(readFileSync(join(h.ROOT, 'widget', name)), { level: 9 }).length;
      h.log(`# ${name}: ${size} bytes gzipped`);
    }
    const context = await h.browser().newContext({ viewport: { width: 1440, height: 860 } });
    const a = F.agent = await newPage(context, 'files-agent');
    await a.goto(`${ctx.base}/agent/`);
    await a.fill('#login-name', h.agent.name);
    await a.fill('#login-password', h.agent.password);
    await a.click('#login-submit');
    await a.locator('#conn[data-state=online]').waitFor();
    F.v = await visitorWithChat('I have a screenshot of the error');
    const label = await W(F.v, 'button.attach').getAttribute('aria-label');
    assert(label === 'Attach a file', `attach label ${label}`);
  });

  test('files: the visitor attaches a PNG by the button; the agent sees the thumbnail and opens it full size', async () => {
    const p = F.v, a = F.agent;
    await W(p, 'input[type=file]').setInputFiles({ name: 'error-dialog.png', mimeType: 'image/png', buffer: png(640, 400) });
    const mine = W(p, '.message.visitor[data-id] .thumb img[alt="error-dialog.png"]');
    await mine.waitFor();
    await waitFor('the visitor\'s thumbnail loads', () => loaded(mine));
    const thumb = a.locator('#log .msg.visitor .thumb img[alt="error-dialog.png"]');
    await thumb.waitFor();
    await waitFor('the agent\'s thumbnail loads', () => loaded(thumb));
    const [tab] = await Promise.all([a.context().waitForEvent('page'), thumb.click()]);
    await tab.waitForLoadState();
    const size = await tab.evaluate(() => { const i = document.images[0]; return i && i.complete ? [i.naturalWidth, i.naturalHeight] : null; });
    assert(size && size[0] === 640 && size[1] === 400, `full size image: ${JSON.stringify(size)}`);
    assert(/\/files\/f_[^/]+\?exp=\d+&sig=/.test(tab.url()), `opened ${tab.url()}`);
    await tab.close();
  });

  test('files: a PDF dropped onto the chat window reaches the agent, who downloads it by its name', async () => {
    const p = F.v, a = F.agent;
    await inWidget(p, (bytes) => {
      const root = document.querySelector('beckon-chat').shadowRoot, win = root.querySelector('.window');
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes)], 'receipt 2024.pdf', { type: 'application/pdf' }));
      for (const type of ['dragenter', 'dragover', 'drop']) win.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true, composed: true }));
    }, [...PDF]);
    const mine = W(p, '.message.visitor[data-id] a.file-card').filter({ hasText: 'receipt 2024.pdf' });
    await mine.waitFor();
    assert(/PDF · \d+ B/.test(await mine.textContent()), `card: ${await mine.textContent()}`);
    const card = a.locator('#log .msg.visitor a.file-card').filter({ hasText: 'receipt 2024.pdf' });
    await card.waitFor();
    const [download] = await Promise.all([a.waitForEvent('download'), card.click()]);
    assert(download.suggestedFilename() === 'receipt 2024.pdf', `suggested ${download.suggestedFilename()}`);
  });

  test('files: a screenshot pasted into the composer is sent as an image', async () => {
    const p = F.v, a = F.agent;
    await inWidget(p, (bytes) => {
      const input = document.querySelector('beckon-chat').shadowRoot.querySelector('#bk-input');
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes)], 'image.png', { type: 'image/png' }));
      input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true, composed: true }));
    }, [...png(300, 200)]);
    const mine = W(p, '.message.visitor[data-id] .thumb img[alt="image.png"]');
    await mine.waitFor();
    await waitFor('the pasted image loads', () => loaded(mine));
    assert(await W(p, 'textarea#bk-input').inputValue() === '', 'nothing pasted as text');
    await a.locator('#log .msg.visitor .thumb img[alt="image.png"]').waitFor();
  });

  test('files: an upload shows its progress; cancelled, one leaves no message', async () => {
    const p = F.v, a = F.agent;
    // Chromium's upload throttling slows the progress events more than the bytes: the progress is
    // watched on an upload that completes, and the cancel is tried on a request held on its way
    // out, so that it surely comes before the server has it all.
    const cdp = await p.context().newCDPSession(p);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 200 * 1024 });
    const seen = [];
    const slow = W(p, '.message.upload').filter({ hasText: 'log.txt' });
    await W(p, 'input[type=file]').setInputFiles({ name: 'log.txt', mimeType: 'text/plain', buffer: Buffer.alloc(2 * 1024 * 1024, 'All work and no play. ') });
    await slow.waitFor();
    const bar = slow.locator('[role=progressbar]');
    await waitFor('progress between 1 and 99', async () => {
      const now = Number(await bar.getAttribute('aria-valuenow').catch(() => 0));
      seen.push(now);
      return now > 0 && now < 100;
    });
    assert(await bar.getAttribute('aria-valuemax') === '100' && await bar.getAttribute('aria-valuemin') === '0', 'progressbar values');
    assert(/Uploading log\.txt/.test(await bar.getAttribute('aria-label')), 'progressbar label');
    h.log(`# progress seen: ${[...new Set(seen)].join(' ')}`);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await W(p, '.message.visitor[data-id] a.file-card').filter({ hasText: 'log.txt' }).waitFor({ timeout: 30000 });

    let held = null;
    await p.route('**/api/files?**', (route) => { held = route; });
    try {
      const upload = W(p, '.message.upload').filter({ hasText: 'notes.txt' });
      await W(p, 'input[type=file]').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('cancel me') });
      await upload.waitFor();
      await waitFor('the request is out', () => held);
      await upload.locator('button.cancel').click();
      await upload.waitFor({ state: 'detached' });
    } finally {
      // the page's abort does not reach a held request: dropped here, before unroute would let it go on
      if (held) await held.abort().catch(() => {});
      await p.unroute('**/api/files?**');
    }
    await sleep(1000);
    assert(await a.locator('#log .msg').filter({ hasText: 'notes.txt' }).count() === 0, 'the agent got the cancelled file');
    assert(await W(p, '.message').filter({ hasText: 'notes.txt' }).count() === 0, 'the visitor shows the cancelled file');
  });

  test('files: HTML saved as .png is refused, in the server\'s words, next to the file', async () => {
    const p = F.v;
    const answer = p.waitForResponse((r) => /\/api\/files\?/.test(r.url()));
    await W(p, 'input[type=file]').setInputFiles({ name: 'invoice.png', mimeType: 'image/png',
      buffer: Buffer.from('<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n') });
    const r = await answer;
    const body = await r.json();
    assert(r.status() === 415 && body.error && body.error.message, `answer ${r.status()} ${JSON.stringify(body)}`);
    const upload = W(p, '.message.upload.failed').filter({ hasText: 'invoice.png' });
    await upload.waitFor();
    const shown = await upload.locator('.refusal').textContent();
    assert(shown === body.error.message, `shown "${shown}", server said "${body.error.message}"`);
    assert(await upload.locator('.refusal').getAttribute('role') === 'alert', 'the refusal is an alert');
    assert(await upload.locator('button.retry').count() === 0, 'a refused type offers no retry');
    await upload.locator('button.remove').click();
    await upload.waitFor({ state: 'detached' });
  });

  test('files: an upload whose answer was lost is sent again with its cmid and stored once', async () => {
    const p = F.v, a = F.agent;
    const tries = [];
    await p.route('**/api/files?**', async (route) => {
      const url = new URL(route.request().url());
      tries.push(url.searchParams.get('cmid'));
      if (tries.length === 1) {
        const stored = await route.fetch(); // the server stores it; the answer never reaches the page
        F.firstStatus = stored.status();
        await route.abort('connectionreset');
        return;
      }
      const again = await route.fetch();
      F.second = { status: again.status(), body: await again.json() };
      await route.fulfill({ response: again });
    });
    await W(p, 'input[type=file]').setInputFiles({ name: 'order-1234.pdf', mimeType: 'application/pdf', buffer: PDF });
    // the push may draw the message before the retry's answer: the upload's node goes with the answer
    await W(p, '.message.upload').filter({ hasText: 'order-1234.pdf' }).waitFor();
    await W(p, '.message.upload').filter({ hasText: 'order-1234.pdf' }).waitFor({ state: 'detached' });
    await W(p, '.message.visitor[data-id] a.file-card').filter({ hasText: 'order-1234.pdf' }).waitFor();
    await p.unroute('**/api/files?**');
    assert(tries.length === 2 && tries[0] === tries[1], `tries: ${JSON.stringify(tries)}`);
    assert(F.firstStatus === 201 && F.second.status === 200 && F.second.body.duplicate === true, `answers ${F.firstStatus}, ${JSON.stringify(F.second)}`);
    await a.locator('#log .msg.visitor a.file-card').filter({ hasText: 'order-1234.pdf' }).waitFor();
    await sleep(500);
    assert(await a.locator('#log .msg.visitor').filter({ hasText: 'order-1234.pdf' }).count() === 1, 'the agent sees it once');
    assert(await W(p, '.message').filter({ hasText: 'order-1234.pdf' }).count() === 1, 'the visitor sees it once');
  });

  test('files: the agent sends an image and a PDF; the visitor sees both, and again after a reload', async () => {
    const p = F.v, a = F.agent;
    assert(await a.locator('#attach').getAttribute('aria-label') === 'Attach a file', 'panel attach label');
    await a.locator('#attach-picker').setInputFiles([{ name: 'how-to.png', mimeType: 'image/png', buffer: png(800, 600) },
      { name: 'terms.pdf', mimeType: 'application/pdf', buffer: PDF }]);
    await a.locator('#log .msg.agent .thumb img[alt="how-to.png"]').waitFor();
    await a.locator('#log .msg.agent a.file-card').filter({ hasText: 'terms.pdf' }).waitFor();
    const img = W(p, '.message.agent .thumb img[alt="how-to.png"]');
    await img.waitFor();
    await waitFor('the agent\'s image loads for the visitor', () => loaded(img));
    await W(p, '.message.agent a.file-card').filter({ hasText: 'terms.pdf' }).waitFor();
    await p.reload();
    await waitFor('history draws the files again', async () => await W(p, '.thumb img').count() === 3 && await W(p, 'a.file-card').count() === 4);
    await waitFor('thumbnails from history load', async () => (await W(p, '.thumb img').evaluateAll((l) => l.every((i) => i.complete && i.naturalWidth > 0))));
  });

  test('files: at phone width the panel\'s composer keeps its attach button', async () => {
    const a = F.agent;
    await a.setViewportSize({ width: 390, height: 800 });
    const box = await a.locator('#attach').boundingBox();
    assert(box && box.width > 20 && box.x + box.width <= 390, `attach button ${JSON.stringify(box)}`);
    await a.setViewportSize({ width: 1440, height: 860 });
    await a.click('#close-conv');
    await a.locator('#conv-state').filter({ hasText: 'Closed' }).waitFor();
    await F.v.context().close();
    await a.context().close();
  });
}
