module github.com/rezup/rezup

go 1.26.8

require github.com/gofrs/flock v0.13.2

require golang.org/x/sys v0.50.0 // indirect
