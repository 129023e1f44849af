package sdk_test

import (
	"errors"
	"fmt"

	"taskhost.dev/sdk"
)

type greetIn struct {
	Name string `json:"name"`
}

type greetOut struct {
	Greeting string `json:"greeting"`
}

func greet(in greetIn) (greetOut, error) {
	if in.Name == "" {
		return greetOut{}, sdk.BadInput(errors.New(`"name" is required`))
	}
	return greetOut{Greeting: "Hello, " + in.Name}, nil
}

// Register a typed task and call it in-process, as a unit test of the task
// logic would.
func ExampleRegister() {
	sdk.Register("greet", greet, sdk.Queue("people"), sdk.MaxRetries(2))

	out, err := sdk.Call("greet", []byte(`{"name":"Ada"}`))
	fmt.Println(string(out), err)
	_, err = sdk.Call("greet", []byte(`{}`))
	fmt.Println(err)
	for _, t := range sdk.Meta().Tasks {
		if t.Name == "greet" {
			fmt.Println(t.Queue, *t.MaxRetries)
		}
	}
	// Output:
	// {"greeting":"Hello, Ada"} <nil>
	// "name" is required
	// people 2
}
