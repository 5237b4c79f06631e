// Package s3backend is the backend.Backend of S3 buckets (s3://bucket/prefix):
// AWS S3 and the stores that speak its API (MinIO, Ceph RGW, versitygw,
// Garage, R2…).
//
// It speaks S3 through minio-go/v7: a small client (a few dependencies,
// no code generation) that works against every S3-compatible store and
// has the credential providers rezup needs; the AWS SDK v2 is many
// modules and is tuned to AWS itself.
//
// Objects are written under their final names, never renamed: Put sends
// one PUT with If-None-Match: *, after a HEAD that spares the upload when
// the name is taken (see Put for stores that ignore the header). A slice
// of an object is a GET with a Range, and so is a resumed download. minio's own retries are
// off (one attempt per call): the retry layer above the backend owns
// backoff. Errors are one line naming the operation, bucket and object,
// and are sorted for that layer: missing key or bucket (IsNotExist),
// refused credentials (fs.ErrPermission, with a hint at the AWS_*
// variables), other 4xx (cas.Permanent), and transient (5xx, SlowDown,
// 429, network).
//
// New takes explicit Options. Opener and EnvOptions read the AWS
// conventions users have, from the getenv the caller passes (the package
// reads no variable itself, except where noted below):
//
//   - credentials, first found wins: AWS_ACCESS_KEY_ID,
//     AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; the profile
//     AWS_PROFILE (default "default") of AWS_SHARED_CREDENTIALS_FILE or
//     ~/.aws/credentials (with its credential_process, run by minio); keys
//     in that profile's section of the config file; then instance and
//     container roles (minio's IAM provider: EC2 metadata, ECS
//     AWS_CONTAINER_*, EKS AWS_WEB_IDENTITY_TOKEN_FILE). None found: the
//     requests go unsigned, which a public bucket accepts.
//   - region: AWS_REGION, AWS_DEFAULT_REGION, then the profile's region in
//     AWS_CONFIG_FILE or ~/.aws/config ("[profile NAME]", or "[default]");
//     none: the client asks the store for the bucket's region.
//   - endpoint: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, then the profile's
//     "s3 =" nested endpoint_url or its endpoint_url; none is AWS. With an
//     endpoint, buckets are addressed path-style (host/bucket), unless the
//     profile says s3 addressing_style = virtual.
//
// Not covered: AWS SSO profiles (they live in the config file, which minio
// only reads from the default paths it finds through its own environment
// and home directory), credential_process and source_profile/role_arn
// chains written in the config file, and "[services]" sections: these need
// the AWS SDK's resolver, which is most of the SDK. minio's IAM provider
// reads the AWS_CONTAINER_*, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN and
// AWS_REGION variables of the process itself before the values passed
// from getenv: cmd/rezup passes its own environment, so both agree.
package s3backend
