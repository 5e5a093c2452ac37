// A stand-in for the desktop's tray, for the desktop specs: it owns
// org.kde.StatusNotifierWatcher on a private session bus, as KDE's (or GNOME's AppIndicator
// extension's) tray does, so Earshot finds a tray to close its window to; it records the tray
// items that register, and clicks their menu entries through the dbusmenu protocol, as a user
// clicking in the tray menu does. Plain D-Bus over the bus's socket (EXTERNAL auth, little-endian
// messages): no library needed, nothing but node.

import net from 'node:net';

const CALL = 1;
const RETURN = 2;
const ERROR = 3;

// ── Marshalling ─────────────────────────────────────────────────────────────────────────────────

/** Writes D-Bus values (little-endian); offsets count from the message start, for alignment. */
class Writer {
  constructor() {
    this.bytes = [];
  }
  get length() {
    return this.bytes.length;
  }
  align(n) {
    while (this.bytes.length % n) this.bytes.push(0);
  }
  byte(v) {
    this.bytes.push(v & 0xff);
  }
  u32(v) {
    this.align(4);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.bytes.push(...b);
  }
  i32(v) {
    this.align(4);
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.bytes.push(...b);
  }
  string(s) {
    const b = Buffer.from(s, 'utf8');
    this.u32(b.length);
    this.bytes.push(...b, 0);
  }
  signature(s) {
    this.byte(s.length);
    this.bytes.push(...Buffer.from(s, 'ascii'), 0);
  }
  /** Writes `value` of the single complete type `type` (the subset the specs send). */
  value(type, value) {
    switch (type[0]) {
      case 'y':
        return this.byte(value);
      case 's':
      case 'o':
        return this.string(value);
      case 'g':
        return this.signature(value);
      case 'u':
        return this.u32(value);
      case 'i':
        return this.i32(value);
      case 'b':
        return this.u32(value ? 1 : 0);
      case 'v':
        this.signature(value[0]);
        return this.value(value[0], value[1]);
      case '(':
      case '{':
        this.align(8);
        splitSignature(type.slice(1, -1)).forEach((t, i) => this.value(t, value[i]));
        return;
      case 'a': {
        this.u32(0);
        const at = this.bytes.length - 4;
        const inner = type.slice(1);
        this.align(alignment(inner));
        const start = this.bytes.length;
        for (const item of value) this.value(inner, item);
        const size = this.bytes.length - start;
        const b = Buffer.alloc(4);
        b.writeUInt32LE(size);
        for (let i = 0; i < 4; i++) this.bytes[at + i] = b[i];
        return;
      }
      default:
        throw new Error(`trayhost: cannot write D-Bus type ${type}`);
    }
  }
}

function alignment(type) {
  switch (type[0]) {
    case 'y':
    case 'g':
    case 'v':
      return 1;
    case 'n':
    case 'q':
      return 2;
    case 'x':
    case 't':
    case 'd':
    case '(':
    case '{':
      return 8;
    default:
      return 4;
  }
}

/** Splits a signature into its complete types. */
function splitSignature(signature) {
  const types = [];
  let i = 0;
  while (i < signature.length) {
    const start = i;
    i = skipType(signature, i);
    types.push(signature.slice(start, i));
  }
  return types;
}

function skipType(signature, i) {
  const c = signature[i];
  if (c === 'a') return skipType(signature, i + 1);
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    i += 1;
    while (signature[i] !== close) i = skipType(signature, i);
    return i + 1;
  }
  return i + 1;
}

/** Reads D-Bus values from a whole message buffer (little-endian). */
class Reader {
  constructor(buffer, offset = 0) {
    this.buffer = buffer;
    this.offset = offset;
  }
  align(n) {
    this.offset = Math.ceil(this.offset / n) * n;
  }
  value(type) {
    const b = this.buffer;
    switch (type[0]) {
      case 'y':
        return b.readUInt8(this.offset++);
      case 'b':
      case 'u': {
        this.align(4);
        const v = b.readUInt32LE(this.offset);
        this.offset += 4;
        return type[0] === 'b' ? v !== 0 : v;
      }
      case 'i': {
        this.align(4);
        const v = b.readInt32LE(this.offset);
        this.offset += 4;
        return v;
      }
      case 'n':
      case 'q': {
        this.align(2);
        const v = type[0] === 'n' ? b.readInt16LE(this.offset) : b.readUInt16LE(this.offset);
        this.offset += 2;
        return v;
      }
      case 'x':
      case 't':
      case 'd': {
        this.align(8);
        const v = type[0] === 'd' ? b.readDoubleLE(this.offset) : type[0] === 'x' ? b.readBigInt64LE(this.offset) : b.readBigUInt64LE(this.offset);
        this.offset += 8;
        return v;
      }
      case 's':
      case 'o': {
        this.align(4);
        const length = b.readUInt32LE(this.offset);
        const s = b.toString('utf8', this.offset + 4, this.offset + 4 + length);
        this.offset += 4 + length + 1;
        return s;
      }
      case 'g': {
        const length = b.readUInt8(this.offset);
        const s = b.toString('ascii', this.offset + 1, this.offset + 1 + length);
        this.offset += 1 + length + 1;
        return s;
      }
      case 'v': {
        const signature = this.value('g');
        return this.value(signature);
      }
      case 'a': {
        this.align(4);
        const size = b.readUInt32LE(this.offset);
        this.offset += 4;
        const inner = type.slice(1);
        this.align(alignment(inner));
        const end = this.offset + size;
        const items = [];
        while (this.offset < end) items.push(this.value(inner));
        if (inner[0] === '{') return Object.fromEntries(items);
        return items;
      }
      case '(':
      case '{': {
        this.align(8);
        return splitSignature(type.slice(1, -1)).map((t) => this.value(t));
      }
      default:
        throw new Error(`trayhost: cannot read D-Bus type ${type}`);
    }
  }
}

/** One D-Bus message as bytes. */
function encode({ type, serial, path, iface, member, destination, errorName, replySerial, signature = '', body = [] }) {
  const bodyWriter = new Writer();
  const types = splitSignature(signature);
  types.forEach((t, i) => bodyWriter.value(t, body[i]));
  const fields = [];
  if (path) fields.push([1, ['o', path]]);
  if (iface) fields.push([2, ['s', iface]]);
  if (member) fields.push([3, ['s', member]]);
  if (errorName) fields.push([4, ['s', errorName]]);
  if (replySerial !== undefined) fields.push([5, ['u', replySerial]]);
  if (destination) fields.push([6, ['s', destination]]);
  if (signature) fields.push([8, ['g', signature]]);
  const w = new Writer();
  w.byte('l'.charCodeAt(0));
  w.byte(type);
  w.byte(0);
  w.byte(1);
  w.u32(bodyWriter.length);
  w.u32(serial);
  w.value('a(yv)', fields);
  w.align(8);
  // The body was written from offset 0; the header ends 8-aligned, so its alignment holds.
  return Buffer.from([...w.bytes, ...bodyWriter.bytes]);
}

/** Splits complete messages off the front of `buffer`; returns [messages, rest]. */
function decode(buffer) {
  const messages = [];
  while (buffer.length >= 16) {
    const bodyLength = buffer.readUInt32LE(4);
    const fieldsLength = buffer.readUInt32LE(12);
    const headerLength = Math.ceil((16 + fieldsLength) / 8) * 8;
    const total = headerLength + bodyLength;
    if (buffer.length < total) break;
    const message = buffer.subarray(0, total);
    buffer = buffer.subarray(total);
    const r = new Reader(message, 12);
    const fields = Object.fromEntries(r.value('a(yv)'));
    const signature = fields[8] ?? '';
    const bodyReader = new Reader(message, headerLength);
    // Body values are aligned from the message start; the body starts 8-aligned, so reading
    // from the message buffer at that offset keeps alignment right.
    const body = splitSignature(signature).map((t) => bodyReader.value(t));
    messages.push({
      type: message.readUInt8(1),
      serial: message.readUInt32LE(8),
      path: fields[1],
      iface: fields[2],
      member: fields[3],
      errorName: fields[4],
      replySerial: fields[5],
      sender: fields[7],
      signature,
      body,
    });
  }
  return [messages, buffer];
}

// ── The host ────────────────────────────────────────────────────────────────────────────────────

function socketPath(address) {
  for (const part of address.split(';')) {
    const [transport, params] = part.split(':', 2);
    if (transport !== 'unix') continue;
    const kv = Object.fromEntries(params.split(',').map((p) => p.split('=', 2)));
    if (kv.path) return decodeURIComponent(kv.path);
    if (kv.abstract) return `\0${decodeURIComponent(kv.abstract)}`;
  }
  throw new Error(`trayhost: no unix socket in the bus address ${address}`);
}

/**
 * Connects to the bus at `address` and owns org.kde.StatusNotifierWatcher. `items` lists the
 * registered tray items ({ service, path }); `waitForItem()` resolves with the first;
 * `click(item, label)` activates the menu entry labelled `label`; `stop()` disconnects (the name
 * goes with the connection).
 */
export async function startTrayHost(address) {
  const socket = net.connect({ path: socketPath(address) });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  // Authenticate as this user (EXTERNAL: the server checks the socket's credentials).
  const uid = Buffer.from(String(process.getuid())).toString('hex');
  socket.write(`\0AUTH EXTERNAL ${uid}\r\n`);
  await new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk) => {
      text += chunk.toString('latin1');
      if (!text.includes('\r\n')) return;
      socket.off('data', onData);
      if (text.startsWith('OK')) resolve();
      else reject(new Error(`trayhost: the bus refused authentication: ${text.trim()}`));
    };
    socket.on('data', onData);
  });
  socket.write('BEGIN\r\n');

  let serial = 1;
  const replies = new Map();
  const items = [];
  const itemWaiters = [];
  let pending = Buffer.alloc(0);

  const send = (message) => {
    const s = serial++;
    socket.write(encode({ ...message, serial: s }));
    return s;
  };
  const call = (destination, path, iface, member, signature = '', body = []) =>
    new Promise((resolve, reject) => {
      const s = send({ type: CALL, destination, path, iface, member, signature, body });
      const timer = setTimeout(() => (replies.delete(s), reject(new Error(`trayhost: ${member} got no answer within 10 s`))), 10000);
      replies.set(s, (reply) => {
        clearTimeout(timer);
        if (reply.type === ERROR) reject(new Error(`trayhost: ${member} failed: ${reply.errorName} ${reply.body[0] ?? ''}`));
        else resolve(reply.body);
      });
    });

  const answer = (message) => {
    const reply = (signature = '', body = []) =>
      send({ type: RETURN, destination: message.sender, replySerial: message.serial, signature, body });
    const fail = (name, text) =>
      send({ type: ERROR, destination: message.sender, replySerial: message.serial, errorName: name, signature: 's', body: [text] });
    const watcher = 'org.kde.StatusNotifierWatcher';
    if (message.iface === watcher && message.member === 'RegisterStatusNotifierItem') {
      const [service] = message.body;
      // An item names its object path (its bus name is the sender) or its bus name.
      const item = service.startsWith('/') ? { service: message.sender, path: service } : { service, path: '/StatusNotifierItem' };
      items.push(item);
      reply();
      send({ type: 4, path: '/StatusNotifierWatcher', iface: watcher, member: 'StatusNotifierItemRegistered', signature: 's', body: [`${item.service}${item.path}`] });
      for (const resolve of itemWaiters.splice(0)) resolve(item);
      return;
    }
    if (message.iface === watcher && message.member === 'RegisterStatusNotifierHost') return reply();
    if (message.iface === 'org.freedesktop.DBus.Properties' && message.member === 'Get' && message.body[0] === watcher) {
      const values = {
        IsStatusNotifierHostRegistered: ['b', true],
        ProtocolVersion: ['i', 0],
        RegisteredStatusNotifierItems: ['as', items.map((i) => `${i.service}${i.path}`)],
      };
      const value = values[message.body[1]];
      return value ? reply('v', [value]) : fail('org.freedesktop.DBus.Error.UnknownProperty', message.body[1]);
    }
    if (message.iface === 'org.freedesktop.DBus.Properties' && message.member === 'GetAll' && message.body[0] === watcher) {
      return reply('a{sv}', [[
        ['IsStatusNotifierHostRegistered', ['b', true]],
        ['ProtocolVersion', ['i', 0]],
        ['RegisteredStatusNotifierItems', ['as', items.map((i) => `${i.service}${i.path}`)]],
      ]]);
    }
    fail('org.freedesktop.DBus.Error.UnknownMethod', `${message.iface}.${message.member} is not served here`);
  };

  socket.on('data', (chunk) => {
    let messages;
    [messages, pending] = decode(Buffer.concat([pending, chunk]));
    for (const message of messages) {
      if ((message.type === RETURN || message.type === ERROR) && replies.has(message.replySerial)) {
        const handle = replies.get(message.replySerial);
        replies.delete(message.replySerial);
        handle(message);
      } else if (message.type === CALL) {
        answer(message);
      }
    }
  });

  const bus = ['org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus'];
  await call(...bus, 'Hello');
  const [owned] = await call(...bus, 'RequestName', 'su', ['org.kde.StatusNotifierWatcher', 4]);
  if (owned !== 1) throw new Error(`trayhost: could not own org.kde.StatusNotifierWatcher (RequestName answered ${owned})`);

  /** The menu entries of `item`, as { id, label, enabled } (GetLayout of its dbusmenu). */
  const menu = async (item) => {
    const [menuPath] = await call(item.service, item.path, 'org.freedesktop.DBus.Properties', 'Get', 'ss', ['org.kde.StatusNotifierItem', 'Menu']);
    const [, layout] = await call(item.service, menuPath, 'com.canonical.dbusmenu', 'GetLayout', 'iias', [0, -1, []]);
    const entries = [];
    const walk = ([id, props, children]) => {
      if (props.label !== undefined) entries.push({ id, label: String(props.label).replace(/_/g, ''), enabled: props.enabled !== false, visible: props.visible !== false });
      for (const child of children) walk(child);
    };
    walk(layout);
    return { menuPath, entries };
  };

  return {
    items,
    waitForItem(timeoutMs = 15000) {
      if (items.length) return Promise.resolve(items[0]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no tray item registered within ${timeoutMs} ms`)), timeoutMs);
        itemWaiters.push((item) => (clearTimeout(timer), resolve(item)));
      });
    },
    async menu(item) {
      return (await menu(item)).entries;
    },
    /** Clicks the entry labelled `label` in `item`'s menu. */
    async click(item, label) {
      const { menuPath, entries } = await menu(item);
      const entry = entries.find((e) => e.label === label);
      if (!entry) throw new Error(`the tray menu has no "${label}" (it has ${entries.map((e) => `"${e.label}"`).join(', ')})`);
      await call(item.service, menuPath, 'com.canonical.dbusmenu', 'Event', 'isvu', [entry.id, 'clicked', ['s', ''], 0]);
    },
    stop() {
      socket.destroy();
    },
  };
}
