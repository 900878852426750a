<?php
// What TasK's application needs at boot, checked against the stack backdrill restored:
//
//   secrets   the Symfony vault opens with its key (Symfony's SodiumVault format: list.php,
//             decrypt.private.php, one sealed file per secret) and DATABASE_URL is in it;
//   postgres  a login with DATABASE_URL's credentials, a row, and a pgvector nearest-neighbour
//             search (what TasK's search does);
//   rabbitmq  the exchange TasK publishes to exists (management API);
//   s3        an object TasK serves can be read (S3 GET signed with SigV4);
//   files     the uploads tree is mounted and readable.
//
// The stack's contract (README, "Smoke test contract"): BACKDRILL_SERVICES lists the services;
// <S>_KIND, <S>_HOST, <S>_PORT and what each kind adds (<S>_USER, <S>_BUCKET, <S>_DIR, ...) say
// where they are. Nothing here prints a secret's value.
declare(strict_types=1);

const APP_DATABASE_SECRET = 'DATABASE_URL';

/** @return array{ok: bool, service: string, text: string, skip?: bool} */
function result(bool $ok, string $service, string $text, bool $skip = false): array
{
    return ['ok' => $ok, 'service' => $service, 'text' => $text, 'skip' => $skip];
}

function service_env(array $env, string $service, string $name): ?string
{
    $key = strtoupper(str_replace('-', '_', $service)) . '_' . $name;
    $value = $env[$key] ?? null;
    return is_string($value) && $value !== '' ? $value : null;
}

/** Symfony's vault, as SodiumVault reads it: include the PHP files, open with sodium. */
function read_vault(string $dir, string $environment): array
{
    $keyFile = "$dir/$environment.decrypt.private.php";
    if (!is_file($keyFile)) {
        throw new RuntimeException("no $environment.decrypt.private.php in the restored vault");
    }
    try {
        $keypair = include $keyFile;
    } catch (Throwable $error) {
        throw new RuntimeException("$environment.decrypt.private.php does not load: " . $error->getMessage());
    }
    if (!is_string($keypair) || strlen($keypair) !== SODIUM_CRYPTO_BOX_KEYPAIRBYTES) {
        throw new RuntimeException("$environment.decrypt.private.php holds no sodium keypair");
    }
    $listFile = "$dir/$environment.list.php";
    $list = is_file($listFile) ? include $listFile : [];
    if (!is_array($list)) {
        throw new RuntimeException("$environment.list.php holds no list");
    }
    $values = [];
    $failing = [];
    foreach (array_keys($list) as $name) {
        $file = "$dir/$environment.$name." . substr(md5((string) $name), 0, 6) . '.php';
        $sealed = is_file($file) ? include $file : null;
        $value = is_string($sealed) ? sodium_crypto_box_seal_open($sealed, $keypair) : false;
        if ($value === false) {
            $failing[] = (string) $name;
        } else {
            $values[(string) $name] = $value;
        }
    }
    sodium_memzero($keypair);
    return [$values, $failing, count($list)];
}

function check_secrets(array $env, string $service, array &$app): array
{
    $dir = service_env($env, $service, 'DIR');
    $environment = service_env($env, $service, 'ENVIRONMENT') ?? 'prod';
    if ($dir === null) {
        return result(false, $service, 'no restored vault was handed to the application');
    }
    try {
        [$values, $failing, $listed] = read_vault($dir, $environment);
    } catch (Throwable $error) {
        return result(false, $service, $error->getMessage());
    }
    if ($failing !== []) {
        return result(false, $service, sprintf(
            '%s do(es) not open with %s.decrypt.private.php (the key does not match the vault)',
            implode(', ', $failing),
            $environment,
        ));
    }
    if (!isset($values[APP_DATABASE_SECRET])) {
        return result(false, $service, APP_DATABASE_SECRET . ' is not in the vault');
    }
    $app['database_url'] = $values[APP_DATABASE_SECRET];
    return result(true, $service, "$listed secret(s) open with $environment.decrypt.private.php, " . APP_DATABASE_SECRET . ' among them');
}

function check_postgres(array $env, string $service, array $app): array
{
    $host = service_env($env, $service, 'HOST');
    $port = service_env($env, $service, 'PORT') ?? '5432';
    if ($host === null) {
        return result(false, $service, 'not restored: no address in the stack');
    }
    // The application's own credentials, from the restored vault; without a vault in the stack,
    // the sandbox's (postgres-dump gives them; a restored cluster has only production's roles).
    if (isset($app['database_url'])) {
        $url = parse_url($app['database_url']);
        $user = rawurldecode((string) ($url['user'] ?? ''));
        $password = rawurldecode((string) ($url['pass'] ?? ''));
        $database = ltrim((string) ($url['path'] ?? ''), '/');
        $how = 'as ' . $user . ' (' . APP_DATABASE_SECRET . ' from the vault)';
    } elseif ($app['secrets_in_stack']) {
        return result(true, $service, 'no database credentials: the vault did not open # SKIP', true);
    } elseif (service_env($env, $service, 'USER') !== null) {
        $user = (string) service_env($env, $service, 'USER');
        $password = (string) service_env($env, $service, 'PASSWORD');
        $database = $env['APP_DATABASE'] ?? 'task';
        $how = 'as the sandbox superuser';
    } else {
        return result(false, $service, 'no credentials: the stack has no vault and the service gives none');
    }
    try {
        $pdo = new PDO("pgsql:host=$host;port=$port;dbname=$database;connect_timeout=10", $user, $password, [
            PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        ]);
        $users = (int) $pdo->query('SELECT count(*) FROM app.users')->fetchColumn();
        $title = $pdo->query('SELECT title FROM app.tasks ORDER BY id LIMIT 1')->fetchColumn();
        $nearest = $pdo->query(
            'SELECT id FROM app.tasks WHERE embedding IS NOT NULL ORDER BY embedding <=> '
            . '(SELECT embedding FROM app.tasks WHERE embedding IS NOT NULL ORDER BY id LIMIT 1) LIMIT 5'
        )->fetchAll(PDO::FETCH_COLUMN);
    } catch (Throwable $error) {
        return result(false, $service, "database $database $how: " . $error->getMessage());
    }
    if ($users === 0 || $title === false || count($nearest) !== 5) {
        return result(false, $service, "database $database: $users users, " . count($nearest) . ' nearest tasks (expected rows and 5)');
    }
    return result(true, $service, "logged in to $database $how: $users users, vector search found 5 nearest tasks");
}

/** GET with a stream context; returns [status, body]. */
function http_get(string $url, array $headers): array
{
    $context = stream_context_create(['http' => [
        'method' => 'GET',
        'header' => implode("\r\n", $headers),
        'ignore_errors' => true,
        'timeout' => 10,
    ]]);
    $body = @file_get_contents($url, false, $context);
    $lines = function_exists('http_get_last_response_headers') ? (http_get_last_response_headers() ?? []) : ($http_response_header ?? []);
    if ($body === false || $lines === []) {
        $error = error_get_last();
        throw new RuntimeException('no answer: ' . ($error['message'] ?? 'unknown error'));
    }
    return [(int) (explode(' ', $lines[0])[1] ?? 0), $body];
}

function check_rabbitmq(array $env, string $service): array
{
    $url = service_env($env, $service, 'MANAGEMENT_URL');
    if ($url === null) {
        return result(false, $service, 'not restored: no management URL in the stack');
    }
    $vhost = $env['APP_RABBITMQ_VHOST'] ?? 'task';
    $exchange = $env['APP_RABBITMQ_EXCHANGE'] ?? 'task.events';
    $auth = base64_encode(service_env($env, $service, 'USER') . ':' . service_env($env, $service, 'PASSWORD'));
    try {
        [$status, $body] = http_get("$url/api/exchanges/" . rawurlencode($vhost) . '/' . rawurlencode($exchange), ["Authorization: Basic $auth"]);
    } catch (Throwable $error) {
        return result(false, $service, $error->getMessage());
    }
    $json = json_decode($body, true);
    if ($status !== 200 || !is_array($json)) {
        return result(false, $service, "exchange $exchange in vhost $vhost: HTTP $status");
    }
    return result(true, $service, "exchange $exchange ({$json['type']}) in vhost $vhost");
}

/** An S3 GET signed with AWS Signature Version 4. */
function s3_get(string $endpoint, string $region, string $accessKey, string $secretKey, string $bucket, string $key): array
{
    $url = parse_url($endpoint);
    $host = $url['host'] . (isset($url['port']) ? ':' . $url['port'] : '');
    $path = '/' . rawurlencode($bucket) . '/' . implode('/', array_map('rawurlencode', explode('/', $key)));
    $now = gmdate('Ymd\THis\Z');
    $day = substr($now, 0, 8);
    $payload = hash('sha256', '');
    $signed = 'host;x-amz-content-sha256;x-amz-date';
    $canonical = "GET\n$path\n\nhost:$host\nx-amz-content-sha256:$payload\nx-amz-date:$now\n\n$signed\n$payload";
    $scope = "$day/$region/s3/aws4_request";
    $toSign = "AWS4-HMAC-SHA256\n$now\n$scope\n" . hash('sha256', $canonical);
    $signingKey = hash_hmac('sha256', 'aws4_request', hash_hmac('sha256', 's3', hash_hmac('sha256', $region, hash_hmac('sha256', $day, "AWS4$secretKey", true), true), true), true);
    $signature = hash_hmac('sha256', $toSign, $signingKey);
    return http_get(rtrim($endpoint, '/') . $path, [
        "x-amz-date: $now",
        "x-amz-content-sha256: $payload",
        "Authorization: AWS4-HMAC-SHA256 Credential=$accessKey/$scope, SignedHeaders=$signed, Signature=$signature",
    ]);
}

function check_s3(array $env, string $service): array
{
    $endpoint = service_env($env, $service, 'ENDPOINT');
    if ($endpoint === null) {
        return result(false, $service, 'not restored: no endpoint in the stack');
    }
    $bucket = (string) service_env($env, $service, 'BUCKET');
    $key = $env['APP_S3_KEY'] ?? 'exports/2026-11/tasks.csv';
    try {
        [$status, $body] = s3_get(
            $endpoint,
            service_env($env, $service, 'REGION') ?? 'us-east-1',
            (string) service_env($env, $service, 'ACCESS_KEY_ID'),
            (string) service_env($env, $service, 'SECRET_ACCESS_KEY'),
            $bucket,
            $key,
        );
    } catch (Throwable $error) {
        return result(false, $service, $error->getMessage());
    }
    if ($status !== 200 || !str_starts_with($body, $key)) {
        return result(false, $service, "s3://$bucket/$key: HTTP $status");
    }
    return result(true, $service, "s3://$bucket/$key read (" . strlen($body) . ' bytes)');
}

function check_files(array $env, string $service): array
{
    $dir = service_env($env, $service, 'MOUNT');
    if ($dir === null || !is_dir($dir)) {
        return result(false, $service, 'the restored tree is not mounted');
    }
    $files = 0;
    $bytes = 0;
    $iterator = new RecursiveIteratorIterator(new RecursiveDirectoryIterator($dir, FilesystemIterator::SKIP_DOTS));
    foreach ($iterator as $file) {
        if ($file->isFile() && $file->isReadable()) {
            $files++;
            $bytes += $file->getSize();
        }
    }
    if ($files === 0) {
        return result(false, $service, "no readable file under $dir");
    }
    return result(true, $service, "$files files ($bytes bytes) readable under $dir");
}

/** Every check, secrets first (the others use its DATABASE_URL). */
function run_checks(array $env): array
{
    $services = preg_split('/\s+/', trim($env['BACKDRILL_SERVICES'] ?? ''), -1, PREG_SPLIT_NO_EMPTY);
    if ($services === []) {
        return [result(false, 'app', 'BACKDRILL_SERVICES is empty: not run by a backdrill stack drill?')];
    }
    $kinds = [];
    foreach ($services as $service) {
        $kinds[$service] = service_env($env, $service, 'KIND') ?? '';
    }
    $app = ['secrets_in_stack' => in_array('symfony-secrets', $kinds, true)];
    $results = [];
    foreach ($kinds as $service => $kind) {
        if ($kind === 'symfony-secrets') {
            $results[] = check_secrets($env, $service, $app);
        }
    }
    foreach ($kinds as $service => $kind) {
        $results[] = match ($kind) {
            'symfony-secrets' => null,
            'postgres-dump', 'postgres-base' => check_postgres($env, $service, $app),
            'rabbitmq' => check_rabbitmq($env, $service),
            's3-bucket' => check_s3($env, $service),
            'files' => check_files($env, $service),
            default => result(true, $service, "kind $kind is not used by the application # SKIP", true),
        };
    }
    return array_values(array_filter($results));
}

function all_ok(array $results): bool
{
    foreach ($results as $result) {
        if (!$result['ok']) {
            return false;
        }
    }
    return true;
}

function tap_lines(array $results): string
{
    $out = '1..' . count($results) . "\n";
    foreach ($results as $index => $result) {
        $text = str_replace(["\r", "\n"], ' ', $result['text']);
        $out .= ($result['ok'] ? 'ok' : 'not ok') . ' ' . ($index + 1) . ' - ' . $result['service'] . ': ' . $text . "\n";
    }
    return $out;
}
