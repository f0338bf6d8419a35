export { run } from './main.js';
export { Api, CliError, EXIT, exitCodeFor } from './api.js';
export { classify, packDir, unzipTo, safeJoin, listDir, sniffFile } from './files.js';
export { Progress, fmtBytes, fmtDuration } from './progress.js';
