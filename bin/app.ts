import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { propsFromContext } from '../cdk/contact-data-sync';
import { ContactDataSyncStack } from '../cdk/contact-data-sync-stack';

const app = new App();
new ContactDataSyncStack(app, 'ContactDataSync', {
  settings: propsFromContext((key) => app.node.tryGetContext(key)),
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
