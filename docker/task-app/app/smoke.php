<?php
// The smoke test: TasK's boot-time checks against the restored stack, once. Prints one
// `ok N - <service>: ...` / `not ok N - <service>: ...` line per check (backdrill reads them) and
// exits 0 only when every check passed.
declare(strict_types=1);

require __DIR__ . '/checks.php';

$results = run_checks(getenv());
echo tap_lines($results);
exit(all_ok($results) ? 0 : 1);
