/**
 * The `backdrill` executable (src/cli/bin.cts), compiled into bench/out with the other workers so
 * a bench case can run the CLI as operators do (`backup`, `restore`, `wal ship`) and put it on a
 * container's PATH for restore_command (`wal fetch`), with tsc's module layout like dist/'s: one
 * file per module, so the start-up a restore_command pays per segment is the shipped one.
 *
 *   node bench/out/bench/workers/backdrill-cli.js --config-dir DIR backup JOB --json
 */
import "../../src/cli/bin.cjs";
