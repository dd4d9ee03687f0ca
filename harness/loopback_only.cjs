// Loaded with `node --require` before a gateway that runs under Node (Portkey's), to keep it on this machine:
//   - every server it starts listens on 127.0.0.1, whatever host it asks for (Portkey listens on every interface);
//   - every outgoing TCP connection must go to a loopback address; any other is refused before a packet is sent
//     (the gateway reaches providers by host name: a config naming a real provider fails instead of leaving).
// Written for these tests; it changes nothing else in the process.
'use strict';

const net = require('net');

const HOST = '127.0.0.1';
const LOOPBACK_NAMES = new Set(['localhost', '::1', '::ffff:127.0.0.1']);

function isLoopback(host) {
  return LOOPBACK_NAMES.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  // listen(options[, cb]) | listen(port[, host][, backlog][, cb]) | listen(path[, cb]) (a local socket: unchanged)
  const first = args[0];
  if (first !== null && typeof first === 'object' && !Array.isArray(first)) {
    if (first.path === undefined) args[0] = { ...first, host: HOST };
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first)) || first === undefined) {
    if (typeof args[1] === 'string' || args[1] === undefined || args[1] === null) {
      args[1] = HOST;
    } else {
      args.splice(1, 0, HOST);
    }
  }
  return listen.apply(this, args);
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function connectToLoopbackOnly(...args) {
  // net.connect passes its arguments already normalised, as an array whose first item is the options
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  let host;
  if (options !== null && typeof options === 'object') {
    if (options.path !== undefined) return connect.apply(this, args); // a local socket
    host = options.host;
  } else {
    host = typeof args[1] === 'string' ? args[1] : undefined;
  }
  host = host || 'localhost';
  if (!isLoopback(host)) {
    const refused = new Error(`connection to ${host} refused: this gateway may only reach loopback addresses`);
    refused.code = 'ECONNREFUSED';
    process.nextTick(() => this.destroy(refused));
    return this;
  }
  return connect.apply(this, args);
};
