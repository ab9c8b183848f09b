// The audit log's verifier for an auditor's browser (and Node.js, which the test suite runs
// it on): an entry's leaf hash, its inclusion proof, the signed checkpoint it is proved
// against and that checkpoint's consistency with one kept from an earlier visit, all with
// WebCrypto (SHA-256, Ed25519). The server only supplies material; nothing here trusts it.
//
// Mirrors registry/audit/merkle.py (RFC 9162 §2.1) and registry/audit/checkpoints.py (C2SP
// signed-note and tlog-checkpoint); tests/console/test_verify_js.py holds the two together.

const enc = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const HASH_SIZE = 32;
const KEY_HASH_SIZE = 4;
const SIGNATURE_SIZE = 64;
const PUBLIC_KEY_SIZE = 32;
const ALG_ED25519 = 0x01; // signed-note signature type
const SIG_PREFIX = '\u2014 '; // em dash and a space, per signed-note
const MAX_SIGNATURES = 100; // as checkpoints.py: bounds the work a hostile note causes
const MAX_UINT64 = 2n ** 64n - 1n;
const DECIMAL = /^(?:0|[1-9][0-9]{0,19})$/;
const TIMESTAMP = /^timestamp (0|[1-9][0-9]{0,19})$/;
// Standard alphabet, padded: atob alone would also take whitespace and missing padding.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// signed-note key names: non-empty, no Unicode spaces or control characters, no "+".
const KEY_NAME = /^[^+\s\p{C}\p{Z}]+$/u;
const EMPTY_ROOT = hexBytes('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

// Why a note was refused: `reason` is "malformed_note", "signature", "wrong_origin" or
// "unsupported" (this browser's WebCrypto has no Ed25519).
export class NoteError extends Error {
  constructor(reason, message) {
    super(message);
    this.name = 'NoteError';
    this.reason = reason;
  }
}

function hexBytes(hex) {
  return Uint8Array.from(hex.match(/../g), (pair) => parseInt(pair, 16));
}

// Strict standard base64 to bytes; null if `text` is not exactly that.
export function base64Bytes(text) {
  if (typeof text !== 'string' || !BASE64.test(text)) return null;
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export function base64(bytes) {
  let binary = '';
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

// ---- RFC 6962 / RFC 9162 Merkle tree (merkle.py) ----

export async function leafHash(data) {
  return sha256(concat(Uint8Array.of(0x00), new Uint8Array(data)));
}

export async function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(0x01), left, right));
}

function isHash(value) {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

function isProof(proof) {
  return Array.isArray(proof) && proof.every(isHash);
}

// Sizes and indices as BigInt: tree sizes outgrow the 32 bits JavaScript's bit operators use.
function asSize(value) {
  if (typeof value === 'bigint') return value >= 0n && value <= MAX_UINT64 ? value : null;
  return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : null;
}

// RFC 9162 §2.1.3.2; false (never an exception) on any malformed input.
export async function verifyInclusion(leaf, index, size, proof, root) {
  const fn0 = asSize(index);
  const size0 = asSize(size);
  if (!isHash(leaf) || !isHash(root) || fn0 === null || size0 === null || !isProof(proof)) return false;
  if (fn0 >= size0) return false;
  let fn = fn0;
  let sn = size0 - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return false;
    if (fn & 1n || fn === sn) {
      r = await nodeHash(p, r);
      while (!(fn & 1n) && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equal(r, root);
}

// RFC 9162 §2.1.4.2; false (never an exception) on any malformed input.
export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  const m = asSize(oldSize);
  const n = asSize(newSize);
  if (m === null || n === null || !isHash(oldRoot) || !isHash(newRoot)) return false;
  if (!isProof(proof) || m > n) return false;
  if (m === n) return proof.length === 0 && equal(oldRoot, newRoot);
  // Every tree extends the empty one; there is nothing to prove.
  if (m === 0n) return proof.length === 0 && equal(oldRoot, EMPTY_ROOT);
  if (proof.length === 0) return false;
  // A power-of-two old tree is itself a node of the new tree: the proof omits it.
  const path = (m & (m - 1n)) === 0n ? [oldRoot, ...proof] : proof;
  let fn = m - 1n;
  let sn = n - 1n;
  while (fn & 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if (fn & 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (!(fn & 1n) && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equal(fr, oldRoot) && equal(sr, newRoot);
}

// ---- signed notes and checkpoints (checkpoints.py) ----

function isKeyName(name) {
  return typeof name === 'string' && KEY_NAME.test(name);
}

async function keyHash(name, publicKey) {
  const digest = await sha256(concat(enc.encode(`${name}\n`), Uint8Array.of(ALG_ED25519), publicKey));
  return digest.slice(0, KEY_HASH_SIZE);
}

// `<name>+<key hash, 8 hex digits>+<base64(0x01 ‖ Ed25519 public key)>`, as sumdb/note's
// NewVerifier reads it: throws unless the key hash is the one the name and key give.
export async function parseVerifierKey(vkey) {
  if (typeof vkey !== 'string') throw new NoteError('malformed_key', 'verifier key must be text');
  // Split at the first two "+" only, as Go's chop does: base64 key material may hold more.
  const match = /^([^+]*)\+([^+]*)\+(.*)$/s.exec(vkey);
  const [, name, hashHex, material] = match || [];
  if (!match || !isKeyName(name) || !/^[0-9a-fA-F]{8}$/.test(hashHex)) {
    throw new NoteError('malformed_key', 'verifier key must be name+hash+key');
  }
  const raw = base64Bytes(material);
  if (!raw || raw.length !== 1 + PUBLIC_KEY_SIZE || raw[0] !== ALG_ED25519) {
    throw new NoteError('malformed_key', 'verifier key is not an Ed25519 key');
  }
  const publicKey = raw.slice(1);
  const expected = await keyHash(name, publicKey);
  if (!equal(expected, hexBytes(hashHex))) throw new NoteError('malformed_key', 'verifier key hash does not match');
  return { name, keyHash: expected, publicKey };
}

function parseSignatureLine(line) {
  if (!line.startsWith(SIG_PREFIX)) throw new NoteError('malformed_note', 'malformed signature line');
  const rest = line.slice(SIG_PREFIX.length);
  const space = rest.indexOf(' ');
  const name = space < 0 ? '' : rest.slice(0, space);
  const raw = space < 0 ? null : base64Bytes(rest.slice(space + 1));
  if (!isKeyName(name) || !raw || raw.length < KEY_HASH_SIZE + 1) {
    throw new NoteError('malformed_note', 'malformed signature line');
  }
  return { name, keyHash: raw.slice(0, KEY_HASH_SIZE), signature: raw.slice(KEY_HASH_SIZE) };
}

async function importKey(publicKey) {
  try {
    return await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  } catch (error) {
    throw new NoteError('unsupported', `this browser cannot verify Ed25519 (${error.name})`);
  }
}

// The text of `note` once a signature by `key` (a parsed verifier key) verifies over it.
// Signatures by other keys are ignored (witnesses may cosign), as in checkpoints.open_note.
export async function openNoteText(note, key) {
  if (typeof note !== 'string') throw new NoteError('malformed_note', 'note must be text');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('malformed_note', 'note has no signature block');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw new NoteError('malformed_note', 'note text has control characters');
  // A lone surrogate would be encoded as U+FFFD, verifying bytes other than the text.
  if (/\p{Cs}/u.test(text)) throw new NoteError('malformed_note', 'note text is not valid UTF-8');
  if (!block.endsWith('\n')) throw new NoteError('malformed_note', 'signature block must end with a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new NoteError('malformed_note', 'too many signatures');
  const message = enc.encode(text);
  let publicKey = null;
  let signed = false;
  for (const line of lines) {
    const { name, keyHash: id, signature } = parseSignatureLine(line);
    if (name !== key.name || !equal(id, key.keyHash)) continue;
    publicKey = publicKey || (await importKey(key.publicKey));
    const ok = signature.length === SIGNATURE_SIZE && (await crypto.subtle.verify({ name: 'Ed25519' }, publicKey, signature, message));
    if (!ok) throw new NoteError('signature', 'bad signature');
    signed = true;
  }
  if (!signed) throw new NoteError('signature', 'no signature by the expected key');
  return text;
}

// Exactly the four lines checkpoints.Checkpoint.body writes: an unknown extension line
// would be signed data this page ignores, so it is refused, as _parse_body does.
export function parseCheckpoint(text) {
  const lines = text.split('\n');
  if (lines.length !== 5 || lines[4] !== '') {
    throw new NoteError('malformed_note', 'checkpoint must have origin, size, root and timestamp lines');
  }
  const [origin, size, rootText, stamp] = lines;
  if (!DECIMAL.test(size) || BigInt(size) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new NoteError('malformed_note', 'malformed tree size');
  }
  const root = base64Bytes(rootText);
  if (!root || root.length !== HASH_SIZE || base64(root) !== rootText) {
    throw new NoteError('malformed_note', 'malformed root hash');
  }
  const match = TIMESTAMP.exec(stamp);
  if (!match || BigInt(match[1]) > MAX_UINT64) throw new NoteError('malformed_note', 'malformed timestamp line');
  if (!isKeyName(origin)) throw new NoteError('malformed_note', 'malformed origin');
  return { origin, size: Number(size), root, timestamp: Number(match[1]) };
}

// checkpoints.parse_signed_note: the checkpoint in `note` once the key `vkey` (a verifier
// key string or parseVerifierKey's result) has signed it under its own name as origin.
// Throws a NoteError otherwise.
export async function openNote(note, vkey) {
  const key = typeof vkey === 'string' ? await parseVerifierKey(vkey) : vkey;
  const checkpoint = parseCheckpoint(await openNoteText(note, key));
  if (checkpoint.origin !== key.name) throw new NoteError('wrong_origin', 'checkpoint origin is not the key name');
  return checkpoint;
}

// ---- one audit entry, as the console serves it ----

class Refusal extends Error {
  constructor(reason, detail) {
    super(detail);
    this.reason = reason;
  }
}

function hashList(values, what) {
  if (!Array.isArray(values)) throw new Refusal('malformed', `${what} must be a list`);
  return values.map((value) => {
    const bytes = base64Bytes(value);
    if (!bytes || bytes.length !== HASH_SIZE) throw new Refusal('malformed', `${what} holds a malformed hash`);
    return bytes;
  });
}

function readPin(pin) {
  if (pin === null || pin === undefined) return null;
  const root = pin && base64Bytes(pin.root);
  const vkeyOk = pin && (pin.vkey === undefined || pin.vkey === null || typeof pin.vkey === 'string');
  if (!vkeyOk || !Number.isSafeInteger(pin.size) || pin.size < 0 || !root || root.length !== HASH_SIZE) {
    throw new Refusal('bad_pin', 'the kept checkpoint is unreadable: forget it and pin again');
  }
  return { vkey: pin.vkey || null, size: pin.size, root };
}

function parseEntry(bytes) {
  let entry;
  try {
    entry = JSON.parse(strictUtf8.decode(bytes));
  } catch {
    throw new Refusal('malformed', 'the entry is not UTF-8 JSON');
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new Refusal('malformed', 'the entry is not a JSON object');
  }
  return entry;
}

async function check(material, pin, result) {
  // Browsers offer crypto.subtle in secure contexts only (HTTPS or localhost).
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    throw new Refusal('unsupported', 'WebCrypto is unavailable: open the console over HTTPS');
  }
  const kept = readPin(pin);
  if (!material || typeof material !== 'object') throw new Refusal('malformed', 'no proof material');
  const { entry, inclusion, checkpoint } = material;
  if (!entry || !inclusion || !checkpoint) throw new Refusal('malformed', 'entry, inclusion and checkpoint are required');

  // (a) The key: the pinned one if there is one. A different served key is never re-pinned here.
  if (typeof material.vkey !== 'string') throw new Refusal('malformed', 'no verifier key served');
  result.servedVkey = material.vkey;
  if (kept && kept.vkey && kept.vkey !== material.vkey) {
    throw new Refusal('key_changed', 'the server signs with a key other than the pinned one');
  }
  if (!kept || !kept.vkey) result.warnings.push('first_use');
  const vkey = (kept && kept.vkey) || material.vkey;
  result.vkey = vkey;
  let key;
  try {
    key = await parseVerifierKey(vkey);
  } catch (error) {
    throw new Refusal('bad_key', error.message);
  }
  result.keyName = key.name;

  // (b) The checkpoint, and the fields served beside it.
  let note;
  try {
    note = await openNote(checkpoint.note, key);
  } catch (error) {
    if (!(error instanceof NoteError)) throw error;
    const reason = { wrong_origin: 'checkpoint_mismatch', unsupported: 'unsupported' }[error.reason] || 'signature';
    throw new Refusal(reason, error.message);
  }
  result.size = note.size;
  result.root = base64(note.root);
  result.timestamp = note.timestamp;
  const besides =
    checkpoint.size === note.size &&
    checkpoint.root_hash === result.root &&
    (checkpoint.origin === undefined || checkpoint.origin === note.origin) &&
    (checkpoint.timestamp === undefined || checkpoint.timestamp === note.timestamp);
  // key_id is the key provider's name for the signing key, not the note's key hash: the
  // signature under the pinned key is what binds the note, so it is not compared.
  if (!besides) throw new Refusal('checkpoint_mismatch', 'the served checkpoint fields differ from the signed note');

  // (c) The entry: its leaf hash computed here, then its path to the signed root.
  const canonical = base64Bytes(entry.canonical);
  if (!canonical) throw new Refusal('malformed', 'the entry bytes are not base64');
  const leaf = await leafHash(canonical);
  result.leafHash = base64(leaf);
  if (inclusion.leaf_hash !== undefined && inclusion.leaf_hash !== null && inclusion.leaf_hash !== result.leafHash) {
    throw new Refusal('leaf_mismatch', 'the entry bytes do not hash to the served leaf hash');
  }
  result.entry = parseEntry(canonical);
  result.entryId = result.entry.id ?? null;
  result.seq = inclusion.seq;
  const idDiffers = entry.id !== undefined && entry.id !== result.entry.id;
  if (idDiffers || entry.seq !== inclusion.seq) {
    throw new Refusal('entry_mismatch', 'the proof is for another entry than the one shown');
  }
  const path = hashList(inclusion.hashes, 'the inclusion proof');
  if (inclusion.size !== note.size || !(await verifyInclusion(leaf, inclusion.seq, note.size, path, note.root))) {
    throw new Refusal('inclusion', 'the entry is not in the tree the checkpoint signs');
  }

  // (d) History: the tree the browser saw before must be a prefix of this one.
  if (kept) {
    result.checkedFrom = kept.size;
    if (kept.size > note.size) throw new Refusal('history_shrank', 'the tree is smaller than the pinned one');
    const proof = material.consistency;
    const sizesMatch = proof ? proof.from === kept.size && proof.to === note.size : kept.size === note.size;
    const hashes = proof ? hashList(proof.hashes, 'the consistency proof') : [];
    if (!sizesMatch || !(await verifyConsistency(kept.size, note.size, kept.root, note.root, hashes))) {
      throw new Refusal('history_differs', 'the tree does not extend the pinned one');
    }
  }

  // (e) Move the pin forward (never back: a smaller tree was refused above).
  result.newPin = { vkey, size: note.size, root: result.root };
  result.ok = true;
}

// `material`: the console's /console/audit/events/{id}/proof.json; `pin`: null or the
// {vkey, size, root} this browser kept from a checkpoint it verified before. Never throws:
// a refusal is {ok: false, reason, detail}, with whatever was established before it.
export async function verifyEntry(material, pin) {
  const result = {
    ok: false,
    reason: null,
    detail: null,
    warnings: [],
    entry: null,
    entryId: null,
    seq: null,
    leafHash: null,
    root: null,
    size: null,
    timestamp: null,
    keyName: null,
    vkey: null,
    servedVkey: null,
    checkedFrom: null,
    newPin: null,
  };
  try {
    await check(material, pin, result);
  } catch (error) {
    result.ok = false;
    result.newPin = null;
    result.reason = error instanceof Refusal ? error.reason : 'malformed';
    result.detail = error instanceof Error ? error.message : String(error);
  }
  return result;
}

// The reasons verifyEntry gives, for pages that describe them.
export const REASONS = Object.freeze([
  'malformed',
  'bad_pin',
  'key_changed',
  'bad_key',
  'unsupported',
  'signature',
  'checkpoint_mismatch',
  'leaf_mismatch',
  'entry_mismatch',
  'inclusion',
  'history_shrank',
  'history_differs',
]);
