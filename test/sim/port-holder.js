'use strict';
// A leftover process that holds a port (fault switch "portHeld"): a plain TCP listener whose
// command line is NOT the UCD server's, like a forgotten child of an old server.
//   node port-holder.js <port>
// Prints "listening <port> pid <pid>" once bound; exits 1 with the reason if it cannot bind.
const net = require('net');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('usage: node port-holder.js <port>\n');
  process.exit(2);
}
const server = net.createServer((socket) => {
  socket.on('error', () => undefined);
  socket.resume();
});
server.on('error', (err) => {
  process.stdout.write(`error ${port} ${err.code || err.message}\n`);
  process.exit(1);
});
server.listen(port, '0.0.0.0', () => process.stdout.write(`listening ${port} pid ${process.pid}\n`));
process.on('SIGHUP', () => undefined);
