using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.IO;

namespace Tomalign.Core.Solve;

/// <summary>The files a solve writes, in IMOD's conventions, plus Tomalign's report.</summary>
public sealed record SolveFileSet(string Tltxf, string? Xf, string Tlt, string Xtilt, string Resid, string FidXyz, string Table, string Report,
    string? Zfac = null)
{
    public IEnumerable<string> All => new[] { Tltxf, Xf, Tlt, Xtilt, Resid, FidXyz, Table, Report, Zfac }.OfType<string>();
}

/// <summary>
/// Writes a solve's outputs into a folder, each whole or not at all:
/// ROOT.tltxf (prealigned → aligned, tiltalign's fine transforms), ROOT.xf (ROOT.prexg then .tltxf, as xfproduct;
/// only with a .prexg; both followed by <c>refinement</c> when one is given), ROOT.tlt, ROOT.xtilt, ROOT.resid, ROOTfid.xyz, ROOT.solve.txt (the table) and ROOT.solve.json;
/// with distortion (X-stretch or skew) also ROOT.zfac, tiltalign's z factors (OutputZFactorFile, for tilt's ZFACTORFILE). With distortion the
/// .tltxf of a view is tiltalign's: the 2×2 that takes the projections of the specimen's x and y axes to an undistorted view's.
/// </summary>
public static class SolveFiles
{
    public static SolveFileSet Write(SolveResult result, SolveInput input, SolveOptions options, string dir, string root,
        IReadOnlyList<Xf>? prexg = null, string? prexgFile = null, double pixelSizeAngstrom = 1,
        Func<int, (int Object, int Contour)>? landmarkKey = null, IReadOnlyDictionary<string, object?>? extra = null,
        IReadOnlyList<Xf>? refinement = null)
    {
        Directory.CreateDirectory(dir);
        string P(string name) => Path.Combine(dir, name);
        if (refinement is not null && refinement.Count != result.Views.Length)
            throw new ArgumentException($"{refinement.Count} refinement transforms for {result.Views.Length} views", nameof(refinement));
        // A refinement after the solve (the axis-profile stage) follows each view's solved transform.
        var tltxf = result.Views.Select((v, i) => refinement is null ? v.RawToAligned() : Xf.Product(v.RawToAligned(), refinement[i])).ToArray();
        string? xfPath = null;
        if (prexg is not null)
        {
            ImodText.RequireSameCount("{0} transforms in the .prexg", prexg.Count, "{0} views solved", tltxf.Length, prexgFile,
                "give the .prexg of the same stack (one transform per view)");
            xfPath = P(root + ".xf");
            ImodText.WriteXf(xfPath, tltxf.Select((t, i) => Xf.Product(prexg[i], t)).ToArray());
        }
        var files = new SolveFileSet(P(root + ".tltxf"), xfPath, P(root + ".tlt"), P(root + ".xtilt"), P(root + ".resid"),
            P(root + "fid.xyz"), P(root + ".solve.txt"), P(root + ".solve.json"), result.Views.Any(v => v.HasDistortion) ? P(root + ".zfac") : null);
        if (files.Zfac is { } zfac)
            AtomicFile.WriteAllLines(zfac, result.Views.Select(v =>
            {
                var (xz, yz) = v.ZFactors();
                return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{xz,12:F6}{yz,12:F6}");
            }));
        ImodText.WriteXf(files.Tltxf, tltxf);
        ImodText.WriteAngles(files.Tlt, result.Views.Select(v => v.TiltDegrees).ToArray());
        ImodText.WriteAngles(files.Xtilt, result.Views.Select(v => v.XAxisTiltDegrees).ToArray());
        AtomicFile.WriteAllLines(files.Resid, SolveReport.ResidLines(result));
        AtomicFile.WriteAllLines(files.FidXyz, SolveReport.FidXyzLines(result, input.Width, input.Height, pixelSizeAngstrom, landmarkKey));
        AtomicFile.WriteAllLines(files.Table, SolveReport.TextTable(result));
        AtomicFile.WriteAllText(files.Report, SolveReport.Json(result, options, extra));
        return files;
    }
}
