/**
 * The Worker in workerd. All suites share this one file because each Worker
 * test file boots its own runtime (~4 s) and its own isolated storage; the
 * suites use distinct model names so they cannot see each other's data.
 */
import { catalogueSuite } from './catalogue.suite.ts';
import { dashboardSuite } from './dashboard.suite.ts';
import { pathSafetySuite } from './path-safety.suite.ts';
import { publishSuite } from './publish.suite.ts';
import { runtimeAssetsSuite } from './runtime-assets.suite.ts';
import { serveSuite } from './serve.suite.ts';

serveSuite();
pathSafetySuite();
publishSuite();
runtimeAssetsSuite();
catalogueSuite();
dashboardSuite();
