import { Aws, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { SalesforceCredentials } from './function';
import { ScvSsmSettings } from './props';

/**
 * Name suffixes of the SSM parameters an older Service Cloud Voice deployment keeps per call
 * center, `<callCenter>-<suffix>`; the function reads all five in one GetParameters call.
 */
export const SCV_SSM_PARAMETER_SUFFIXES = {
  privateKey: 'salesforce-rest-api-auth-private-key',
  consumerKey: 'salesforce-rest-api-auth-consumer-key',
  audience: 'salesforce-rest-api-audience',
  subject: 'salesforce-rest-api-subject',
  accessToken: 'salesforce-rest-api-access-token',
} as const;

/**
 * Service Cloud Voice's existing SSM parameters holding one org's JWT settings and the access
 * token it shares with SCV's own functions. Nothing is created: the parameters belong to SCV.
 */
export class ScvSsmParameters extends Construct implements SalesforceCredentials {
  public readonly environment: Readonly<Record<string, string>>;
  /** All five parameters, in the order of SCV_SSM_PARAMETER_SUFFIXES. */
  private readonly parameterArns: string[];
  private readonly privateKeyArn: string;
  private readonly accessTokenArn: string;
  private readonly kmsKeyArn?: string;

  constructor(scope: Construct, id: string, settings: ScvSsmSettings) {
    super(scope, id);
    // The names have no leading slash, so the ARN is parameter/<name>.
    const parameterArn = (suffix: string) =>
      Stack.of(this).formatArn({
        service: 'ssm',
        resource: 'parameter',
        resourceName: `${settings.callCenter}-${suffix}`,
      });
    this.parameterArns = Object.values(SCV_SSM_PARAMETER_SUFFIXES).map(parameterArn);
    this.privateKeyArn = parameterArn(SCV_SSM_PARAMETER_SUFFIXES.privateKey);
    this.accessTokenArn = parameterArn(SCV_SSM_PARAMETER_SUFFIXES.accessToken);
    this.kmsKeyArn = settings.kmsKeyArn;
    this.environment = {
      SALESFORCE_SSM_CALL_CENTER: settings.callCenter,
      SALESFORCE_AUTH_ENDPOINT: settings.authEndpoint,
      SALESFORCE_REST_API_ENDPOINT_BASE: settings.restApiEndpointBase,
      // PutParameter without a KeyId would re-encrypt the access token with aws/ssm.
      ...(settings.kmsKeyArn === undefined ? {} : { SALESFORCE_SSM_KMS_KEY_ID: settings.kmsKeyArn }),
    };
  }

  /**
   * Grants reading the five parameters and overwriting the access token, and decrypting or
   * encrypting through Parameter Store exactly the SecureStrings the function reads or writes.
   * The function writes the token with the customer managed key when there is one, so kms:Encrypt
   * is granted on that key (a Standard-tier parameter is encrypted directly, no data key).
   */
  public grantUse(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['ssm:GetParameters'], resources: this.parameterArns }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['ssm:PutParameter'], resources: [this.accessTokenArn] }),
    );

    // Without a customer managed key the parameters use aws/ssm, whose key ID is not known at
    // synth time; the conditions below tie the grant to these parameters whatever the key.
    const keyArn = this.kmsKeyArn ?? Stack.of(this).formatArn({ service: 'kms', resource: 'key', resourceName: '*' });
    // Parameter Store passes the parameter's ARN as encryption context in every KMS call it makes.
    const viaParameterStore = (parameterArns: string | string[]) => ({
      StringEquals: {
        'kms:ViaService': `ssm.${Aws.REGION}.amazonaws.com`,
        'kms:EncryptionContext:PARAMETER_ARN': parameterArns,
      },
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [keyArn],
        conditions: viaParameterStore([this.privateKeyArn, this.accessTokenArn]),
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Encrypt'],
        resources: [keyArn],
        conditions: viaParameterStore(this.accessTokenArn),
      }),
    );
    if (this.kmsKeyArn === undefined) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]',
        reason:
          'The SecureString parameters use the AWS managed aws/ssm key, whose key ID is unknown at synth time. ' +
          'kms:Decrypt and kms:Encrypt are allowed only via ssm in this region and only with the encryption ' +
          'context PARAMETER_ARN of the private-key and access-token parameters (Encrypt: the access token only).',
      });
    }
  }
}
