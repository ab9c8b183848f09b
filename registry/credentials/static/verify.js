// The permit credential's offline verifier, for a browser (and Node.js, which the test suite
// runs it on): WebCrypto Ed25519 and SHA-256, DecompressionStream for the status list. It
// needs only the issuer's published keys and status list, never the registry's records.

const enc = new TextEncoder();
const dec = new TextDecoder();

function b64urlBytes(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function part(jwt, index) {
  return JSON.parse(dec.decode(b64urlBytes(jwt.split('.')[index])));
}

async function signed(jwt, keys) {
  const [head, body, sig] = jwt.split('.');
  const header = part(jwt, 0);
  const jwk = keys.find((k) => k.kid === header.kid);
  if (header.alg !== 'EdDSA' || !jwk) return null;
  const key = await crypto.subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, { name: 'Ed25519' }, false, ['verify']);
  const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, b64urlBytes(sig), enc.encode(`${head}.${body}`));
  return ok ? { header, payload: part(jwt, 1) } : null;
}

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function binds(disclosed, idNumber) {
  return typeof disclosed === 'string' && disclosed.toUpperCase() === idNumber.trim().toUpperCase();
}

// `idNumber` (optional): the number on the identity card shown, compared with the disclosed one.
export async function verifyPresentation(presentation, metadata, statusListJwt, nowSeconds, idNumber) {
  const keys = (metadata.jwks && metadata.jwks.keys) || [];
  const [jwt, ...rest] = presentation.trim().split('~');
  const disclosures = rest.filter((d) => d.length > 0);
  const credential = await signed(jwt, keys);
  if (!credential || credential.header.typ !== 'dc+sd-jwt' || credential.payload.iss !== metadata.issuer) {
    return { valid: false, reason: 'signature' };
  }
  const claims = { ...credential.payload };
  const digests = new Set(claims._sd || []);
  delete claims._sd;
  delete claims._sd_alg;
  for (const disclosure of disclosures) {
    const digest = b64url(await crypto.subtle.digest('SHA-256', enc.encode(disclosure)));
    if (!digests.has(digest)) return { valid: false, reason: 'disclosure' };
    const [, name, value] = JSON.parse(dec.decode(b64urlBytes(disclosure)));
    claims[name] = value;
  }
  if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds) return { valid: false, reason: 'expired', claims };
  const entry = (claims.status || {}).status_list || {};
  const list = await signed(statusListJwt, keys);
  if (!list || list.header.typ !== 'statuslist+jwt' || list.payload.sub !== entry.uri) {
    return { valid: false, reason: 'status list', claims };
  }
  if (typeof list.payload.exp !== 'number' || list.payload.exp <= nowSeconds) {
    return { valid: false, reason: 'status list expired', claims };
  }
  const bits = list.payload.status_list.bits;
  const packed = await inflate(b64urlBytes(list.payload.status_list.lst));
  const index = entry.idx;
  if (!Number.isInteger(index) || index < 0 || index >= (packed.length * 8) / bits) {
    return { valid: false, reason: 'status index', claims };
  }
  const value = (packed[Math.floor((index * bits) / 8)] >> ((index * bits) % 8)) & ((1 << bits) - 1);
  const reason = { 0: 'valid', 1: 'revoked', 2: 'suspended' }[value] || `status ${value}`;
  if (value === 0 && idNumber && !binds(claims.id_number, idNumber)) {
    return { valid: false, reason: 'not bound to this identity card', claims };
  }
  return { valid: value === 0, reason, claims };
}
