// Preloaded (`--import`) into a stack process started by a test run: its stdin is a pipe from the
// launcher, and the pipe closes when the launcher dies however it dies (even SIGKILL), so the
// process ends too instead of being left behind holding a port and a database.
process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL'))
process.stdin.on('error', () => process.kill(process.pid, 'SIGKILL'))
process.stdin.resume()
// Never the reason the process stays alive after a graceful close.
process.stdin.unref()
