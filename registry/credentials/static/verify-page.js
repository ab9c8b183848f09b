import { verifyPresentation } from '/verify/verify.js';

document.getElementById('check').addEventListener('submit', async (event) => {
  event.preventDefault();
  const out = document.getElementById('result');
  const [metadata, statusList] = await Promise.all([
    fetch('/.well-known/jwt-vc-issuer').then((r) => r.json()),
    fetch('/credentials/status-lists/1').then((r) => r.text()),
  ]);
  const text = document.getElementById('presentation').value;
  const card = document.getElementById('id-number').value;
  const result = await verifyPresentation(text, metadata, statusList, Date.now() / 1000, card || undefined);
  out.textContent = `${result.valid ? '有效 valid' : '无效 not valid'} (${result.reason}) ${JSON.stringify(result.claims || {})}`;
});
