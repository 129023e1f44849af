package abi

import "encoding/json"

// Progress is what a plugin reports through FuncProgress. Every report also
// counts as a heartbeat; an empty Progress is a heartbeat alone.
type Progress struct {
	// Percent is the share of the work done, 0 to 100; negative when unknown.
	Percent float64 `json:"percent,omitempty"`
	// Message says what the task is doing.
	Message string `json:"message,omitempty"`
	// Details is any JSON the plugin wants to attach.
	Details json.RawMessage `json:"details,omitempty"`
}

// TaskInfo describes the running task to a plugin (FuncTaskInfo).
type TaskInfo struct {
	// ID is the engine's id of this task.
	ID string `json:"id,omitempty"`
	// Task is the task's name.
	Task string `json:"task"`
	// Attempt counts attempts from 1.
	Attempt int `json:"attempt"`
	// Plugin is the plugin's name.
	Plugin string `json:"plugin"`
}
