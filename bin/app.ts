import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ContactDataSyncStack } from '../cdk/contact-data-sync-stack';
import { parseSettings } from '../cdk/props';

const app = new App();
new ContactDataSyncStack(app, 'ContactDataSync', {
  settings: parseSettings((key) => app.node.tryGetContext(key)),
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
