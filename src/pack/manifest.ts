/**
 * The pack manifest's types and constants, for the pack format's own modules.
 * They are defined in src/protocol/pack-manifest.ts: a manifest is also a wire
 * type (served as JSON, carried in worker messages), and the protocol layer
 * sits below storage.
 */
export * from '../protocol/pack-manifest.ts';
