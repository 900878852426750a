<?php
/*
 * Drives Symfony's own secrets vault (Symfony\Bundle\FrameworkBundle\Secrets\SodiumVault) from the
 * tests, in the backdrill-test/symfony-php image: vaults are written and read by the code that
 * writes and reads them in production, not by a re-implementation.
 *
 *   php symfony-vault.php <symfony major.minor> < request.json > results.json
 *
 * request.json: {"vaults": [{"vault": "/dir/config/secrets/prod", "key": <base64 keypair, optional>,
 *                           "ops": [{"op": "generateKeys"} | {"op": "seal", "name": N, "value": <base64>}
 *                                   | {"op": "remove", "name": N} | {"op": "list"} | {"op": "revealAll"}]},
 *                           ...]}
 *
 * Several vaults per run because a container start costs more than everything PHP does here.
 * Each operation gets a fresh SodiumVault, as each `bin/console secrets:*` command does. With
 * "key" the vault is opened the way SYMFONY_DECRYPTION_SECRET opens it (the decoded keypair as
 * the constructor's decryption key); without it, Symfony loads the keys from the vault's files.
 * Values travel as base64 (they may be any bytes). The output is one JSON document:
 *   {"symfony": <Debian package version>, "php": PHP_VERSION, "vaults": [{"results": [...]}, ...]}
 * where list gives the names in list.php order as PHP sees them ({"name", "type": int|string}),
 * and revealAll gives {"name", "value": <base64>|null} per listed name.
 */

declare(strict_types=1);

// Symfony 5.4 on PHP 8.4 raises deprecation notices; they are not about the files written.
error_reporting(E_ALL & ~E_DEPRECATED & ~E_USER_DEPRECATED);
set_error_handler(static function (int $severity, string $message, string $file, int $line): bool {
    // Symfony silences some calls with @ (an unlink of a file that may be absent): leave those be.
    if (!(error_reporting() & $severity)) {
        return false;
    }
    throw new ErrorException($message, 0, $severity, $file, $line);
});

function fail(string $message): never
{
    fwrite(STDERR, "symfony-vault.php: $message\n");
    exit(2);
}

$minor = $argv[1] ?? '';
$root = "/opt/symfony/$minor";
if (!preg_match('/^\d+\.\d+$/D', $minor) || !is_dir("$root/Symfony")) {
    $have = implode(', ', array_map('basename', glob('/opt/symfony/*', GLOB_ONLYDIR) ?: []));
    fail("no Symfony \"$minor\" in this image (it has: $have)");
}

// Debian's tree is PSR-4 from the Symfony namespace down; nothing else is on the include path.
spl_autoload_register(static function (string $class) use ($root): void {
    if (str_starts_with($class, 'Symfony\\')) {
        $file = $root.'/'.str_replace('\\', '/', $class).'.php';
        if (is_file($file)) {
            require $file;
        }
    }
});

use Symfony\Bundle\FrameworkBundle\Secrets\SodiumVault;

$input = json_decode(stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);

function decode(array $op, string $field): string
{
    $value = base64_decode($op[$field] ?? fail("$op[op] needs \"$field\""), true);

    return false === $value ? fail("$op[op]: \"$field\" is not base64") : $value;
}

/** Runs one vault's operations; returns their results. */
function run(array $request): array
{
    $dir = $request['vault'] ?? fail('every vault needs "vault"');
    $key = isset($request['key']) ? base64_decode($request['key'], true) : null;
    if (false === $key) {
        fail('"key" is not base64');
    }
    $results = [];
    foreach ($request['ops'] as $op) {
        $vault = new SodiumVault($dir, $key);
        switch ($op['op']) {
            case 'generateKeys':
                $results[] = ['op' => 'generateKeys', 'ok' => $vault->generateKeys()];
                break;
            case 'seal':
                $vault->seal($op['name'], decode($op, 'value'));
                $results[] = ['op' => 'seal', 'name' => $op['name']];
                break;
            case 'remove':
                $results[] = ['op' => 'remove', 'name' => $op['name'], 'ok' => $vault->remove($op['name'])];
                break;
            case 'list':
                $names = [];
                foreach ($vault->list() as $name => $_) {
                    $names[] = ['name' => (string) $name, 'type' => \is_int($name) ? 'int' : 'string'];
                }
                $results[] = ['op' => 'list', 'names' => $names];
                break;
            case 'revealAll':
                $values = [];
                foreach ($vault->list(true) as $name => $value) {
                    $values[] = ['name' => (string) $name, 'value' => null === $value ? null : base64_encode($value)];
                }
                $results[] = ['op' => 'revealAll', 'values' => $values, 'message' => $vault->getLastMessage()];
                break;
            default:
                fail('unknown operation '.json_encode($op['op']));
        }
    }

    return $results;
}

$vaults = array_map(static fn (array $request): array => ['results' => run($request)], $input['vaults']);

echo json_encode([
    'symfony' => trim((string) file_get_contents("$root/VERSION")),
    'php' => PHP_VERSION,
    'vaults' => $vaults,
], JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES), "\n";
