/** Process logging shared by the apps: one line per event — time, level, component, message, key=value fields. */
export type Fields = Record<string, unknown>;

export function createLogger(component: string) {
  const line = (level: string, msg: string, fields: Fields = {}): string => {
    const kv = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
      .join(' ');
    return `${new Date().toISOString()} ${level} [${component}] ${msg}${kv ? ` ${kv}` : ''}`;
  };
  return {
    info: (msg: string, fields?: Fields) => console.log(line('INFO', msg, fields)),
    warn: (msg: string, fields?: Fields) => console.warn(line('WARN', msg, fields)),
    error: (msg: string, fields?: Fields) => console.error(line('ERROR', msg, fields)),
  };
}
export type Logger = ReturnType<typeof createLogger>;
