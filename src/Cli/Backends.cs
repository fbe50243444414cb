using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;
using Tomalign.Cpu;
using Tomalign.Gpu;

namespace Tomalign.Cli;

/// <summary>Backend choice for the commands: --device, with the CPU path as the fallback.</summary>
internal static class Backends
{
    public static IComputeBackend Create(DeviceKind kind, CliContext ctx)
    {
        var backend = BackendFactory.Create(kind, ctx.Log, () => new CpuBackend(), memoryLimitBytes: ctx.GpuMemoryLimit);
        ctx.Log.LogInformation("Device: {Device}", backend.Description);
        // Every backend call checks the command's interruption: every stage's long loop stops at its next call.
        return CancellableBackend.Wrap(backend, ctx.Cancel);
    }

    /// <summary>An ILGPU accelerator exactly as asked (verify, bench): no silent fallback.</summary>
    public static IComputeBackend CreateAccelerator(DeviceKind kind, CliContext ctx)
    {
        var backend = BackendFactory.Create(kind, ctx.Log, () => new CpuBackend(), memoryLimitBytes: ctx.GpuMemoryLimit);
        if (!backend.IsGpu && backend.Name != "ilgpu-cpu")
            throw new Tomalign.Core.TomalignInputException(null, $"no {kind} device is available here",
                "run on a machine with that GPU and its driver, or use --device ilgpu-cpu to check the kernels on the CPU emulator");
        return CancellableBackend.Wrap(backend, ctx.Cancel);
    }
}
