import { describe, it, expect } from 'vitest';
import { loadConfig, ConfigError } from '../../../runtime/config.ts';

describe('config', () => {
  it('has embedded defaults: local services, chDB, synthetic only when offline', () => {
    const c = loadConfig({});
    expect(c.kafka.brokers).toBeNull();
    expect(c.registry.url).toBeNull();
    expect(c.clickhouse.url).toBeNull();
    expect(c.roles).toEqual(['ingest', 'processors', 'api']);
    expect(c.market.source).toBe('exchanges');
    expect(loadConfig({}, { offline: true }).market.source).toBe('synthetic');
  });

  it('reads external services from the environment', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'k1:9092, k2:9093', SCHEMA_REGISTRY_URL: 'http://reg:8081/', CLICKHOUSE_URL: 'https://ch:8443' });
    expect(c.kafka.brokers).toEqual(['k1:9092', 'k2:9093']);
    expect(c.registry.url).toBe('http://reg:8081');
    expect(c.clickhouse.url).toBe('https://ch:8443');
  });

  it.each([
    ['API_PORT', '70000', 'Invalid configuration: API_PORT="70000": must be an integer between 0 and 65535'],
    ['API_PORT', '8o8o', 'Invalid configuration: API_PORT="8o8o": must be an integer between 0 and 65535'],
    ['KAFKA_BROKERS', 'localhost', 'Invalid configuration: KAFKA_BROKERS="localhost": "localhost" is not host:port'],
    ['SCHEMA_REGISTRY_URL', 'reg:8081', 'Invalid configuration: SCHEMA_REGISTRY_URL="reg:8081": must be an http:// or https:// URL'],
    ['TICKFLOW_ROLES', 'ingest,sink', 'Invalid configuration: TICKFLOW_ROLES="ingest,sink": "sink" is not one of ingest, processors, api'],
    ['MARKET_SOURCE', 'live', 'Invalid configuration: MARKET_SOURCE="live": must be one of synthetic, exchanges'],
    ['MARKET_SYMBOLS', 'BTCUSDT', 'Invalid configuration: MARKET_SYMBOLS="BTCUSDT": "BTCUSDT" is not a unified symbol like BTC/USDT'],
    ['SYNTHETIC_TICKS_PER_SECOND', 'NaN', 'Invalid configuration: SYNTHETIC_TICKS_PER_SECOND="NaN": must be a number between 0.1 and 1000000'],
    ['KAFKA_TOPIC_PREFIX', 'a b', 'Invalid configuration: KAFKA_TOPIC_PREFIX="a b": may only contain letters, digits, ".", "_" and "-"'],
    ['LOG_LEVEL', 'loud', 'Invalid configuration: LOG_LEVEL="loud": must be one of trace, debug, info, warn, error, fatal, silent'],
  ])('%s=%s is refused with one line naming it', (name, value, message) => {
    let err: unknown;
    try { loadConfig({ [name]: value }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(message);
    expect((err as ConfigError).variable).toBe(name);
  });
});
