import { Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { AnalysisFiles } from './function';
import { AnalysisBucketSettings } from './props';

/**
 * Where Contact Lens writes its post-call analysis files in the bucket:
 * `Analysis/Voice/YYYY/MM/DD/<contactId>_analysis_<time>.json`, and the redacted copies under
 * `Analysis/Voice/Redacted/...`. The function lists and reads below this prefix only.
 */
export const ANALYSIS_PREFIX = 'Analysis/Voice/';

/**
 * The Amazon Connect instance's existing bucket holding the Contact Lens post-call analysis
 * files, which the function reads for contacts older than the 24 hours Contact Lens serves.
 * Nothing is created: the bucket belongs to the Connect instance.
 */
export class AnalysisBucket extends Construct implements AnalysisFiles {
  public readonly environment: Readonly<Record<string, string>>;
  private readonly bucketArn: string;
  /** The analysis files, `arn:<partition>:s3:::<bucket>/Analysis/Voice/*`. */
  private readonly filesArn: string;
  private readonly kmsKeyArn?: string;

  constructor(scope: Construct, id: string, private readonly settings: AnalysisBucketSettings) {
    super(scope, id);
    // S3 ARNs carry neither region nor account.
    this.bucketArn = `arn:${Aws.PARTITION}:s3:::${settings.bucketName}`;
    this.filesArn = `${this.bucketArn}/${ANALYSIS_PREFIX}*`;
    this.kmsKeyArn = settings.kmsKeyArn;
    const environment: Record<string, string> = { ANALYSIS_BUCKET: settings.bucketName };
    // The function's default is false, so the variable appears only to change it.
    if (settings.preferRedacted) environment.ANALYSIS_PREFER_REDACTED = 'true';
    this.environment = environment;
  }

  /**
   * Grants listing and reading the analysis files and nothing else in the bucket, and decrypting
   * them through S3 with the customer managed key, if any.
   */
  public grantRead(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${ANALYSIS_PREFIX}*`] } },
      }),
    );
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [this.filesArn] }));
    if (this.kmsKeyArn !== undefined) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [this.kmsKeyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` },
            // S3 passes the object's ARN as encryption context, or the bucket's ARN with S3 Bucket Keys.
            StringLike: { 'kms:EncryptionContext:aws:s3:arn': [this.filesArn, this.bucketArn] },
          },
        }),
      );
    }
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${this.settings.bucketName}/${ANALYSIS_PREFIX}*]`,
      reason:
        'Contact IDs and contact dates arrive with each request, so the analysis file keys end in a wildcard; ' +
        'the grant is confined to the Contact Lens analysis output (Analysis/Voice/) of the one configured bucket.',
    });
  }
}
