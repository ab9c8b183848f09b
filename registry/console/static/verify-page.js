// The audit entry page's "verify" button: fetches the proof material, checks it with
// verify.js in this browser and keeps the verified checkpoint (the pin) in localStorage, so
// the next visit also proves the log only grew. Strict CSP: no inline script or style, no
// markup parsed from strings; nodes are built with createElement and textContent, state
// shown by classes.

import { verifyEntry } from './verify.js';

const PIN_KEY = 'registry.audit.pin';

const REASON_TEXT = {
  malformed: '材料格式错误 The proof material is malformed',
  bad_pin: '本地保存的检查点无法读取，请清除后重新固定 The kept checkpoint is unreadable: forget it and pin again',
  key_changed: '签名密钥已更换，与固定的密钥不同 The signing key differs from the pinned key',
  bad_key: '验证密钥格式错误 The verifier key is malformed',
  unsupported: '此浏览器不支持 Ed25519 This browser cannot verify Ed25519',
  signature: '检查点签名无效 The checkpoint signature does not verify',
  checkpoint_mismatch: '检查点内容与签名不符 The checkpoint fields differ from the signed note',
  leaf_mismatch: '条目内容与叶哈希不符 The entry does not hash to the served leaf',
  entry_mismatch: '证明与所示条目不符 The proof is for another entry',
  inclusion: '包含证明无效 The inclusion proof does not verify',
  history_shrank: '日志比固定时更短：历史可能被改写 The log is shorter than the pinned one: history may have been rewritten',
  history_differs: '日志与固定的检查点不一致：历史可能被改写 The log does not extend the pinned checkpoint: history may have been rewritten',
  fetch: '无法获取证明 The proof could not be fetched',
};

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.classList.add(className);
  return node;
}

function readPin() {
  const stored = localStorage.getItem(PIN_KEY);
  if (stored === null) return null;
  try {
    return JSON.parse(stored);
  } catch {
    // Handed to verifyEntry as is, which refuses it ("bad_pin") rather than re-pinning silently.
    return { unreadable: stored };
  }
}

async function fetchMaterial(proofUrl, pin) {
  const url = new URL(proofUrl, location.href);
  // The empty tree needs no consistency proof (and the server serves none from 0).
  if (pin && Number.isSafeInteger(pin.size) && pin.size > 0) url.searchParams.set('from', String(pin.size));
  const response = await fetch(url.href, {
    credentials: 'same-origin',
    mode: 'same-origin',
    headers: { Accept: 'application/json' },
  });
  if (!response.ok) {
    // The console explains itself (e.g. an entry not yet in a signed checkpoint).
    const problem = await response.json().catch(() => null);
    throw new Error(problem && typeof problem.detail === 'string' ? problem.detail : `HTTP ${response.status}`);
  }
  return response.json();
}

function row(list, term, value) {
  if (value === undefined || value === null || value === '') return;
  list.append(element('dt', term), element('dd', Array.isArray(value) ? value.join(', ') : value));
}

function warningsOf(result) {
  const items = [];
  if (result.warnings.includes('first_use')) {
    const item = element('li', '首次使用：请将此密钥与另行公布的密钥逐字核对。 First use: compare this key with the one published out of band. ');
    item.append(element('code', result.vkey));
    items.push(item);
  }
  if (result.reason === 'key_changed') {
    const item = element('li', '服务器提供的密钥 The key the server offers: ');
    item.append(element('code', result.servedVkey));
    items.push(item);
  }
  if (!items.length) return null;
  const list = element('ul', null, 'verify-warnings');
  list.append(...items);
  return list;
}

function detailsOf(result) {
  const list = element('dl', null, 'verify-details');
  const entry = result.entry || {};
  row(list, '叶哈希（本地计算） Leaf hash (computed here)', result.leafHash);
  row(list, '根哈希 Root hash', result.root);
  row(list, '树大小 Tree size', result.size);
  if (Number.isSafeInteger(result.timestamp)) row(list, '签名时间 Signed at', new Date(result.timestamp * 1000).toISOString());
  row(list, '密钥名称 Key name', result.keyName);
  row(list, '条目编号 Entry id', result.entryId);
  row(list, '序号 Sequence number', result.seq);
  row(list, '操作 Action', entry.action);
  row(list, '时间 At', entry.at);
  row(list, '操作人 Actor id', entry.actor_id);
  row(list, '对象 Targets', entry.targets);
  if (result.ok && result.checkedFrom !== null) row(list, '与固定的检查点一致 Consistent with the pinned size', result.checkedFrom);
  return list;
}

function show(output, result) {
  const verdict = result.ok
    ? element('p', '已验证 Verified', 'verdict')
    : element('p', `验证失败 Verification failed: ${result.reason}`, 'verdict');
  const nodes = [verdict];
  if (!result.ok) {
    nodes.push(element('p', REASON_TEXT[result.reason] || result.reason, 'reason'));
    if (result.detail) nodes.push(element('p', result.detail, 'detail'));
  }
  const warnings = warningsOf(result);
  if (warnings) nodes.push(warnings);
  nodes.push(detailsOf(result));
  output.replaceChildren(...nodes);
  output.classList.toggle('verified', result.ok);
  output.classList.toggle('failed', !result.ok);
  output.dataset.reason = result.reason || '';
  output.dataset.state = result.ok ? 'verified' : 'failed';
}

async function verify(section, output, button) {
  button.disabled = true;
  output.dataset.state = 'busy';
  output.classList.remove('verified', 'failed');
  output.replaceChildren(element('p', '正在验证… Verifying…'));
  try {
    const pin = readPin();
    let result;
    try {
      result = await verifyEntry(await fetchMaterial(section.dataset.proofUrl, pin), pin);
    } catch (error) {
      result = { ok: false, reason: 'fetch', detail: error.message, warnings: [], entry: null };
    }
    // Only a verified checkpoint moves the pin; a refusal (a changed key, a rewritten
    // history) leaves it in place as the evidence to compare against.
    if (result.ok && result.newPin) localStorage.setItem(PIN_KEY, JSON.stringify(result.newPin));
    show(output, result);
  } finally {
    button.disabled = false;
  }
}

function forget(output) {
  localStorage.removeItem(PIN_KEY);
  output.classList.remove('verified', 'failed');
  output.replaceChildren(element('p', '已清除固定的检查点，下次验证将重新固定。 The pin is cleared: the next verification pins again.'));
  output.dataset.reason = '';
  output.dataset.state = 'cleared';
}

const section = document.getElementById('verify');
const output = document.getElementById('verify-result');
const button = document.getElementById('verify-button');
if (section && output && button) {
  button.addEventListener('click', () => verify(section, output, button));
  const forgetButton = document.getElementById('verify-forget');
  if (forgetButton) forgetButton.addEventListener('click', () => forget(output));
}
