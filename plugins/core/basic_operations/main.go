// Command basic_operations is a core plugin: echo, add, uppercase, sleep.
//
// Build it with make plugins. The task code is in package tasks, plain Go
// tested natively as well as through the host; this package exports it.
package main

import _ "taskhost.dev/plugins/core/basic_operations/tasks"

func main() {}
