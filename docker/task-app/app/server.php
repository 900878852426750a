<?php
// The same checks as an HTTP health endpoint (php -S 0.0.0.0:8080 /app/server.php): GET /health
// answers 200 when the application works against the restored stack, 503 when it does not, with
// the check lines as the body.
declare(strict_types=1);

require __DIR__ . '/checks.php';

if (parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) !== '/health') {
    http_response_code(404);
    echo "not found\n";
    return;
}
$results = run_checks(getenv());
http_response_code(all_ok($results) ? 200 : 503);
header('Content-Type: text/plain; charset=utf-8');
echo tap_lines($results);
