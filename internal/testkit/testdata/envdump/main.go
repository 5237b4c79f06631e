// Command envdump is the binary testkit's own tests run through Binary and
// Session: it prints its working directory, arguments and environment as
// JSON, and exits with the code given as its first argument.
package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
)

func main() {
	wd, _ := os.Getwd() // an unknown cwd shows as "", which the test catches
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"dir": wd, "args": os.Args[1:], "env": env})
	os.Stderr.WriteString("envdump: stderr\n")
	if len(os.Args) > 1 {
		code, err := strconv.Atoi(os.Args[1])
		if err == nil {
			os.Exit(code)
		}
	}
}
