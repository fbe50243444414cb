using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;

namespace Tomalign.Gpu;

/// <summary>
/// Chooses the backend (Math.NET's Control pattern, without a global): an explicit choice, the
/// TOMALIGN_DEVICE environment override when the choice is Auto, or Auto itself, which prefers a
/// CUDA device and otherwise takes the managed CPU path (never ILGPU's CPU emulator). A GPU asked
/// for but absent falls back to the CPU path with a warning. Gpu does not reference Cpu: the caller
/// passes the managed backend's constructor as <c>cpuBackend</c>.
/// </summary>
public static class BackendFactory
{
    public const string EnvironmentVariable = "TOMALIGN_DEVICE";

    /// <param name="kind">what the user asked for (--device).</param>
    /// <param name="logger">receives the choice and any fallback warning.</param>
    /// <param name="cpuBackend">creates the managed CPU backend (fallback, and the OOM retry of GPU backends).</param>
    /// <param name="environment">reads environment variables; null: the process environment (tests pass their own).</param>
    /// <param name="memoryLimitBytes">the most device memory a GPU backend plans with (--gpu-memory); null: all of it.</param>
    public static IComputeBackend Create(DeviceKind kind, ILogger logger, Func<IComputeBackend> cpuBackend,
        Func<string, string?>? environment = null, long? memoryLimitBytes = null)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(cpuBackend);
        kind = ResolveKind(kind, logger, environment ?? Environment.GetEnvironmentVariable);

        IComputeBackend backend = kind switch
        {
            DeviceKind.Cpu => cpuBackend(),
            DeviceKind.IlgpuCpu => GpuBackend.CreateIlgpuCpu(cpuBackend, logger, memoryLimitBytes),
            DeviceKind.Cuda => TryCreate(AcceleratorType.Cuda, cpuBackend, logger, memoryLimitBytes) ?? Fallback("no CUDA device found", cpuBackend, logger),
            DeviceKind.OpenCL => TryCreate(AcceleratorType.OpenCL, cpuBackend, logger, memoryLimitBytes) ?? Fallback("no OpenCL device found", cpuBackend, logger),
            _ => TryCreate(AcceleratorType.Cuda, cpuBackend, logger, memoryLimitBytes) ?? cpuBackend(),   // Auto
        };
        logger.LogInformation("Backend: {Description}", backend.Description);
        return backend;
    }

    /// <summary>Applies the environment override to Auto; explicit choices win over the environment.</summary>
    public static DeviceKind ResolveKind(DeviceKind kind, ILogger logger, Func<string, string?> environment)
    {
        if (kind != DeviceKind.Auto) return kind;
        string? value = environment(EnvironmentVariable)?.Trim();
        if (string.IsNullOrEmpty(value)) return DeviceKind.Auto;
        switch (value.ToLowerInvariant())
        {
            case "auto": return DeviceKind.Auto;
            case "cpu": return DeviceKind.Cpu;
            case "cuda": return DeviceKind.Cuda;
            case "opencl": return DeviceKind.OpenCL;
            case "ilgpu-cpu": return DeviceKind.IlgpuCpu;
            default:
                logger.LogWarning("{Variable}={Value} is not one of cpu|cuda|opencl|auto; using auto", EnvironmentVariable, value);
                return DeviceKind.Auto;
        }
    }

    /// <summary>True when ILGPU finds at least one CUDA device (a capability check for tests and `verify`).</summary>
    public static bool HasCudaDevice()
    {
        try
        {
            using var context = Context.Create(b => b.Cuda());
            return context.GetCudaDevices().Count > 0;
        }
        catch (Exception)
        {
            return false;   // no driver, or a driver ILGPU cannot load
        }
    }

    private static GpuBackend? TryCreate(AcceleratorType type, Func<IComputeBackend> cpuBackend, ILogger logger, long? memoryLimitBytes)
    {
        Context? context = null;
        try
        {
            context = type == AcceleratorType.Cuda
                ? GpuBackend.CreateContext(b => b.Cuda())
                : GpuBackend.CreateContext(b => b.OpenCL());
            Device? device = null;
            if (type == AcceleratorType.Cuda)
            {
                var cuda = context.GetCudaDevices();
                if (cuda.Count > 0) device = cuda[0];
            }
            else
            {
                var cl = context.GetCLDevices();
                if (cl.Count > 0) device = cl[0];
            }
            if (device is null) { context.Dispose(); return null; }
            return new GpuBackend(context, device.CreateAccelerator(context), cpuBackend, logger, memoryLimitBytes);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            logger.LogWarning("could not start the {Type} device: {Message}", type, ex.Message);
            context?.Dispose();
            return null;
        }
    }

    private static IComputeBackend Fallback(string why, Func<IComputeBackend> cpuBackend, ILogger logger)
    {
        logger.LogWarning("{Why}; using the CPU path", why);
        return cpuBackend();
    }
}
