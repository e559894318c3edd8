import { Aws, RemovalPolicy, SecretValue, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface SalesforceSecretProps {
  /** Complete ARN of an existing secret; absent means a placeholder secret is created. */
  readonly existingSecretArn?: string;
  /** Customer managed KMS key encrypting the existing secret. */
  readonly existingSecretKmsKeyArn?: string;
}

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

/** The Secrets Manager secret holding the Salesforce OAuth settings, created or imported. */
export class SalesforceSecret extends Construct {
  public readonly secret: secretsmanager.ISecret;
  private readonly kmsKeyArn?: string;

  constructor(scope: Construct, id: string, props: SalesforceSecretProps) {
    super(scope, id);
    this.kmsKeyArn = props.existingSecretKmsKeyArn;

    if (props.existingSecretArn !== undefined) {
      this.secret = secretsmanager.Secret.fromSecretCompleteArn(this, 'Imported', props.existingSecretArn);
      return;
    }

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
    this.secret = secret;
  }

  /** Grants reading the secret value, and decrypting it when a customer managed key protects it. */
  public grantRead(grantee: iam.IGrantable): void {
    // Only GetSecretValue: ISecret.grantRead would add DescribeSecret, which the function never calls.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.secret.secretArn],
      }),
    );
    if (this.kmsKeyArn !== undefined) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [this.kmsKeyArn],
          // Usable only through Secrets Manager, not to decrypt anything else under that key.
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
        }),
      );
    }
  }
}
