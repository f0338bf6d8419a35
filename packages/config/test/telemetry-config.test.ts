/** The telemetry settings: per-process default ports, off, loopback by default, the OTLP endpoint checked as a URL. */
import { describe, expect, it } from 'vitest';
import { ConfigError, gatewayConfigFromEnv, telemetryConfigFromEnv, workerConfigFromEnv } from '../src/index.js';

describe('telemetry config', () => {
  it('gives the gateway and the worker their own default metrics port, on loopback, without OTLP', () => {
    expect(gatewayConfigFromEnv({}).telemetry).toEqual({ metricsPort: 9464, metricsHost: '127.0.0.1', otlpEndpoint: null, otlpIntervalMs: 15_000 });
    expect(workerConfigFromEnv({}).telemetry.metricsPort).toBe(9465);
  });

  it('takes a port, off, a host, an OTLP endpoint and its interval', () => {
    expect(telemetryConfigFromEnv({ VOXFLEET_METRICS_PORT: 'off' }).metricsPort).toBeNull();
    expect(
      telemetryConfigFromEnv({ VOXFLEET_METRICS_PORT: '9100', VOXFLEET_METRICS_HOST: '0.0.0.0', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_METRIC_EXPORT_INTERVAL: '5000' }),
    ).toEqual({ metricsPort: 9100, metricsHost: '0.0.0.0', otlpEndpoint: 'http://collector:4318', otlpIntervalMs: 5000 });
  });

  it('refuses a bad port or endpoint, naming the setting', () => {
    expect(() => telemetryConfigFromEnv({ VOXFLEET_METRICS_PORT: '70000' })).toThrow(ConfigError);
    expect(() => telemetryConfigFromEnv({ VOXFLEET_METRICS_PORT: 'x' })).toThrow(/telemetry\.metricsPort/);
    expect(() => telemetryConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/telemetry\.otlpEndpoint/);
  });
});
