using Tomalign.Core.Backend;
using Tomalign.Cpu.Fft;

namespace Tomalign.Cpu;

/// <summary>The managed backend: always available, multi-threaded, the oracle of every GPU operation.</summary>
public sealed class CpuBackend : IComputeBackend
{
    public CpuBackend(int maxThreads = 0)
    {
        Threads = maxThreads > 0 ? maxThreads : Environment.ProcessorCount;
        Warper = new CpuStackWarper(maxThreads);
        Fft = new ManagedFft2D();
        PairCorrelator = new CpuPairCorrelator(Fft);
        Backprojector = new CpuBackprojector(fft: Fft);
        LocalBackprojector = new CpuLocalBackprojector(fft: Fft);
    }

    public int Threads { get; }
    public string Name => "cpu";
    public string Description => $"managed CPU path, {Threads} threads";
    public bool IsGpu => false;
    public IStackWarper Warper { get; }
    public IBundleNormalEquations BundleNormalEquations { get; } = new CpuBundleNormalEquations();
    public IFft2D Fft { get; }
    public IPairCorrelator PairCorrelator { get; }
    public IBackprojector Backprojector { get; }
    public ILocalBackprojector? LocalBackprojector { get; }
    public ITemplateCorrelator TemplateCorrelator { get; } = new CpuTemplateCorrelator();

    public void Dispose() { }
}
