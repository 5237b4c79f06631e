package s3backend

import (
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// PutWithoutStat is Put without its HEAD, so that tests see what the
// conditional PUT alone guarantees.
var PutWithoutStat = (*Backend).put

var ParseINI = parseINI

// QuietIAM is the instance-role provider of EnvOptions, asking endpoint
// and telling the time with now.
func QuietIAM(endpoint string, now func() time.Time) credentials.Provider {
	return &quietProvider{Provider: &credentials.IAM{Endpoint: endpoint}, now: now}
}
