package s3backend

// PutWithoutStat is Put without its HEAD, so that tests see what the
// conditional PUT alone guarantees.
var PutWithoutStat = (*Backend).put

var ParseINI = parseINI
