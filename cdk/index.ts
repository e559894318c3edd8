/**
 * The package's entry point: the ContactDataSync construct for a customer's own CDK app, its
 * props, and the settings validation it shares with this repository's app (bin/app.ts).
 */
export { ContactDataSync, propsFromContext } from './contact-data-sync';
export type { ContactDataSyncProps } from './contact-data-sync';
export { DEFAULTS, SETTING_KEYS, parseSettings } from './props';
export type {
  AnalysisBucketSettings,
  AutoRepairSettings,
  BackfillSettings,
  ContactDataSyncSettings,
  SalesforceSecretsSettings,
  ScvSsmSettings,
  SettingKey,
  SettingLookup,
  TokenCachePairing,
} from './props';
