import { Aws, RemovalPolicy, SecretValue, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SalesforceCredentials } from './function';
import { SalesforceSecretsSettings } from './props';

/**
 * Placeholder for the JWT bearer flow. Operators overwrite it with put-secret-value after
 * deploying; the template must never carry a real credential.
 */
export const PLACEHOLDER_SECRET = {
  authFlow: 'jwt-bearer',
  loginUrl: 'https://login.salesforce.com',
  clientId: 'REPLACE_WITH_CONNECTED_APP_CONSUMER_KEY',
  username: 'REPLACE_WITH_INTEGRATION_USER',
  privateKey: 'REPLACE_WITH_PEM_PRIVATE_KEY',
} as const;

/**
 * The Secrets Manager secrets holding the Salesforce OAuth settings: the default org's secret,
 * created or imported, plus imported Service Cloud Voice secrets of other orgs and the
 * token-cache secrets the function rewrites after minting a token.
 */
export class SalesforceSecrets extends Construct implements SalesforceCredentials {
  /** ARN of the default org's secret. */
  public readonly secretArn: string;
  public readonly environment: Readonly<Record<string, string>>;
  private readonly readArns: string[];
  private readonly tokenArns: string[];
  private readonly kmsKeyArns: readonly string[];

  constructor(scope: Construct, id: string, settings: SalesforceSecretsSettings) {
    super(scope, id);
    this.secretArn = settings.secretArn ?? this.createSecret().secretArn;
    this.tokenArns = [
      ...(settings.tokenSecretArn === undefined ? [] : [settings.tokenSecretArn]),
      ...settings.extraTokenSecretArns.map((pair) => pair.tokenSecretArn),
    ];
    this.readArns = [this.secretArn, ...settings.extraSecretArns, ...this.tokenArns];
    this.kmsKeyArns = settings.kmsKeyArns;

    const environment: Record<string, string> = { SALESFORCE_SECRET_ID: this.secretArn };
    if (settings.extraSecretArns.length > 0) {
      environment.SALESFORCE_EXTRA_SECRET_IDS = settings.extraSecretArns.join(',');
    }
    if (settings.tokenSecretArn !== undefined) {
      environment.SALESFORCE_TOKEN_SECRET_ID = settings.tokenSecretArn;
    }
    if (settings.extraTokenSecretArns.length > 0) {
      // Each token cache with its org, so the function refuses to write one org's token into another's.
      environment.SALESFORCE_EXTRA_TOKEN_SECRET_IDS = settings.extraTokenSecretArns
        .map((pair) => `${pair.secretArn}|${pair.tokenSecretArn}`)
        .join(',');
    }
    this.environment = environment;
  }

  /**
   * Grants reading every secret and rewriting the token caches, and using the customer managed
   * keys for that through Secrets Manager only.
   */
  public grantUse(role: iam.IRole): void {
    // Only GetSecretValue: ISecret.grantRead would add DescribeSecret, which the function never calls.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: this.readArns }),
    );
    if (this.tokenArns.length > 0) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['secretsmanager:PutSecretValue'], resources: this.tokenArns }),
      );
    }
    if (this.kmsKeyArns.length > 0) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          // Storing a new token version encrypts it under the secret's key: GenerateDataKey.
          actions: this.tokenArns.length > 0 ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'],
          resources: [...this.kmsKeyArns],
          // Usable only through Secrets Manager, not to decrypt anything else under those keys.
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
        }),
      );
    }
  }

  private createSecret(): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, 'Secret', {
      description: 'Salesforce OAuth settings for contact-data-sync (replace the placeholders after deploying)',
      secretObjectValue: Object.fromEntries(
        Object.entries(PLACEHOLDER_SECRET).map(([key, value]) => [key, SecretValue.unsafePlainText(value)]),
      ),
      // Deleting the stack must not destroy the credentials an operator filled in.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The secret holds a Salesforce connected-app key or client secret, which is rotated in Salesforce ' +
        'and then stored with put-secret-value; no Lambda rotator can mint a new one.',
    });
    return secret;
  }
}
