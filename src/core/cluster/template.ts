// The commented starting point written by "Create cluster file". A unit test proves it loads.
export const CLUSTER_TEMPLATE = `// UCD HA cluster for the upgrade runbook. The editor checks this file against the extension's
// schema as you type (hover a property for its meaning). Never put a password here: name a
// credential in "ucd.credential" and the extension keeps its value in the editor's secret storage.
{
  "name": "ucd-prod",
  // Every node runs currentVersion now; all of them must end on targetVersion.
  "currentVersion": "7.0.5.0",
  "targetVersion": "7.1.2.0",
  // The first node upgrades the database schema; the others follow once it is back online.
  "firstNode": "ucd1",
  // The shared network-storage folder (server.appdata.dir), at the same path on every node.
  "sharedAppdata": "/opt/ucd/appdata",
  "loadBalancerUrl": "https://ucd.example.com",
  "fips": false,
  // "guided" answers the installer's prompts in a terminal; "silent" uses install.properties.
  "installerMode": "guided",
  // Who stops and starts the servers: "auto" uses systemctl where a systemd unit manages the
  // install (else the service commands), "systemd" always systemctl, "scripts" never. A node may
  // say otherwise with its own "serviceManager", and name its unit with "systemdUnit".
  "serviceManager": "auto",
  "ucd": {
    "url": "https://ucd.example.com",
    "credential": "ucd-admin",
    // true: maintenance mode on before step 2 (no new deployments) and off after step 11 (7.0.3 on).
    "maintenanceMode": false
  },
  "database": {
    "type": "mysql",
    "backup": {
      // Runs on this machine unless "node" names a cluster node to run it on. {timestamp} becomes
      // the run's UTC time (20261201T101500Z), so each run writes its own file and none is written over.
      "command": "mysqldump --defaults-extra-file=/etc/ucd/backup.cnf --single-transaction ucd > /var/backups/ucd-before-upgrade-{timestamp}.sql",
      "node": "ucd1",
      "artifact": "/var/backups/ucd-before-upgrade-{timestamp}.sql"
    }
  },
  // Either "localFile" (uploaded to each node) or "remotePath" (already on every node).
  "package": {
    "remotePath": "/tmp/ibm-ucd-install"
  },
  // How the SSH user gains rights (a node's own "privilege" wins, field by field). "none": the SSH
  // user owns the install and does everything itself. "sudo": the installer, start and stop run as
  // installOwner, and the probes that must see other users' processes, and kill, as "as" ("root",
  // or "installOwner" when sudo may only switch to the service user). "password": true asks for the
  // SSH user's sudo password once and keeps it in secret storage; the command line reads it from
  // the variable "passwordEnv" names. Never write a password here. For example:
  //   "privilege": { "method": "sudo", "as": "root", "password": true, "passwordEnv": "UCD_SUDO_PASSWORD" },
  //   "installOwner": "ucd",
  // installOwner is the OS user that installed the server and owns installDir (checked on each node).
  "privilege": { "method": "none" },
  "nodes": [
    {
      "name": "ucd1",
      "host": "ucd1.example.com",
      "user": "ucdadmin",
      "installDir": "/opt/ibm-ucd/server"
      // Defaults: "sshPort": 22, "os": "linux", "httpsPort": 8443, "jmsPort": 7918,
      // "startCommand"/"stopCommand": <installDir>/bin/server start|stop
      // e.g. "systemdUnit": "devops-deploy-server.service" when the probe cannot tell the unit
    },
    {
      "name": "ucd2",
      "host": "ucd2.example.com",
      "user": "ucdadmin",
      "installDir": "/opt/ibm-ucd/server"
    }
  ]
}
`;
