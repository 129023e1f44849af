package host

import (
	"context"
	"encoding/json"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"taskhost.dev/abi"
	"taskhost.dev/host/internal/extism"
)

// instantiateTaskhost builds the abi.HostModule module: progress reports
// and task information.
func instantiateTaskhost(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(abi.HostModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(progress), []api.ValueType{api.ValueTypeI64}, nil).
		Export(abi.FuncProgress).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(taskInfo), nil, []api.ValueType{api.ValueTypeI64}).
		Export(abi.FuncTaskInfo).
		Instantiate(ctx)
	return err
}

func instanceOf(ctx context.Context) *instance {
	inst, ok := extism.FromContext(ctx).(*instance)
	if !ok {
		panic("taskhost host function called outside a task call")
	}
	return inst
}

// progress(offset i64): the block holds an abi.Progress document; an empty
// or zero offset is a heartbeat.
func progress(ctx context.Context, _ api.Module, stack []uint64) {
	inst := instanceOf(ctx)
	var pr abi.Progress
	if stack[0] != 0 {
		if b := inst.st.Mem.Bytes(stack[0]); len(b) > 0 {
			if err := json.Unmarshal(b, &pr); err != nil {
				pr = abi.Progress{Message: string(b)}
			}
		}
		inst.st.Mem.Free(stack[0])
	}
	if inst.inv.OnProgress != nil {
		inst.inv.OnProgress(pr)
	}
}

// task_info() -> i64: a block holding the running task's abi.TaskInfo.
func taskInfo(ctx context.Context, _ api.Module, stack []uint64) {
	inst := instanceOf(ctx)
	info := abi.TaskInfo{ID: inst.inv.ID, Attempt: inst.inv.Attempt, Plugin: inst.p.Name}
	if inst.task != nil {
		info.Task = inst.task.Name
	}
	b, _ := json.Marshal(info)
	off, err := inst.st.Mem.Write(b)
	if err != nil {
		inst.st.Fail(err.(*extism.Fault))
	}
	stack[0] = off
}
