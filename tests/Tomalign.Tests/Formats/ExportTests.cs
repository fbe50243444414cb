using System.Globalization;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Formats;

/// <summary>
/// The exports for the next programs: RELION 5's STAR files project simulated 3-D points, through RELION's own composition
/// (written here independently from its reconstruct program's definition), onto the positions our .xf gives within 0.1 px;
/// the files parse with gemmi's STAR reader; IMOD's tilt.com, the input-stack files with EXCLUDELIST, the .aln's dark frames.
/// </summary>
public class ExportTests(ITestOutputHelper output)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>A series of odd and even sizes (the centres differ by half a pixel there), an x-axis tilt, rotations and shifts per view.</summary>
    private static ExportSeries Series(string dir, int thickness = 51, int bin = 1, double pixel = 2.7)
    {
        const int nx = 300, ny = 257;
        var rng = new Random(7);
        var tilts = Enumerable.Range(0, 13).Select(i => -60 + 10.0 * i + 0.3 * (rng.NextDouble() - 0.5)).ToArray();
        var xfs = tilts.Select(t => new ViewGeometry(t, 84 + 3 * rng.NextDouble(), 1, 20 * (rng.NextDouble() - 0.5), 20 * (rng.NextDouble() - 0.5), 2.5).RawToAligned()).ToArray();
        string stack = Path.Combine(dir, "ts.mrc");
        MrcCraft.Write(stack, MrcCraft.Header(nx, ny, tilts.Length, 2, bigEndian: false), new byte[nx * ny * tilts.Length * 4]);
        return new ExportSeries
        {
            Name = "ts", Stack = stack, Nx = nx, Ny = ny, Xf = xfs, Tilts = tilts, XAxisTilts = Enumerable.Repeat(2.5, tilts.Length).ToArray(),
            PixelSizeAngstrom = pixel, VoltageKv = 300, Thickness = thickness, Bin = bin,
            PreExposure = Enumerable.Range(0, tilts.Length).Select(i => 3.0 * i).ToArray(),
            NominalTilts = tilts.Select(t => Math.Round(t)).ToArray(), NominalTiltAxis = 85,
        };
    }

    /// <summary>A minimal reader of the STAR loops written (names and rows), independent of the writer.</summary>
    private static (string[] Columns, List<string[]> Rows) Loop(string path)
    {
        var cols = new List<string>();
        var rows = new List<string[]>();
        foreach (var raw in File.ReadLines(path))
        {
            string l = raw.Trim();
            if (l.StartsWith('_')) cols.Add(l.Split(' ')[0][1..]);
            else if (l.Length > 0 && !l.StartsWith('#') && !l.StartsWith("data_", StringComparison.Ordinal) && !l.StartsWith("loop_", StringComparison.Ordinal))
                rows.Add(l.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }
        return (cols.ToArray(), rows);
    }

    private static double[,] M(params double[] v) { var m = new double[4, 4]; for (int i = 0; i < 16; i++) m[i / 4, i % 4] = v[i]; return m; }
    private static double[,] Mul(double[,] a, double[,] b)
    {
        var c = new double[4, 4];
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) for (int k = 0; k < 4; k++) c[i, j] += a[i, k] * b[k, j];
        return c;
    }
    private static double[,] S(double x, double y, double z) => M(1, 0, 0, x, 0, 1, 0, y, 0, 0, 1, z, 0, 0, 0, 1);
    private static double[,] Rx(double deg) { double c = Math.Cos(deg * Math.PI / 180), s = Math.Sin(deg * Math.PI / 180); return M(1, 0, 0, 0, 0, c, -s, 0, 0, s, c, 0, 0, 0, 0, 1); }
    private static double[,] Ry(double deg) { double c = Math.Cos(deg * Math.PI / 180), s = Math.Sin(deg * Math.PI / 180); return M(c, 0, s, 0, 0, 1, 0, 0, -s, 0, c, 0, 0, 0, 0, 1); }
    private static double[,] Rz(double deg) { double c = Math.Cos(deg * Math.PI / 180), s = Math.Sin(deg * Math.PI / 180); return M(c, -s, 0, 0, s, c, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1); }

    [Theory]
    [InlineData(51, 1)]
    [InlineData(40, 2)]
    public void Relion5Star_ProjectsSimulatedPointsOntoOurAlignedPositions(int thickness, int bin)
    {
        using var dir = new MrcTempDir();
        var s = Series(dir.Path, thickness, bin);
        AlignmentExport.WriteRelion(s, Path.Combine(dir.Path, "relion"));

        var (gc, grows) = Loop(Path.Combine(dir.Path, "relion", "tomograms.star"));
        var g = grows.Single();
        double Gv(string c) => double.Parse(g[Array.IndexOf(gc, c)], Inv);
        int w = (int)Gv("rlnTomoSizeX"), h = (int)Gv("rlnTomoSizeY"), d = (int)Gv("rlnTomoSizeZ");
        double px = Gv("rlnTomoTiltSeriesPixelSize");
        Assert.Equal((300, 257, thickness * bin), (w, h, d));
        Assert.Equal(bin, Gv("rlnTomoTomogramBinning"));
        Assert.Equal(2.7, px);
        string seriesStar = g[Array.IndexOf(gc, "rlnTomoTiltSeriesStarFile")];
        var (tc, trows) = Loop(seriesStar);
        Assert.Equal(13, trows.Count);
        double T(int i, string c) => double.Parse(trows[i][Array.IndexOf(tc, c)], Inv);
        Assert.Equal(s.PreExposure![4], T(4, "rlnMicrographPreExposure"));

        var rng = new Random(3);
        double worst = 0;
        for (int i = 0; i < 13; i++)
        {
            // RELION 5 (reconstruct_tomogram, "transformations = s2 @ s1 @ r2 @ r1 @ r0 @ s0"), with integer centres.
            var P = Mul(S(300 / 2, 257 / 2, 0), Mul(S(T(i, "rlnTomoXShiftAngst") / px, T(i, "rlnTomoYShiftAngst") / px, 0),
                Mul(Rz(T(i, "rlnTomoZRot")), Mul(Ry(T(i, "rlnTomoYTilt")), Mul(Rx(T(i, "rlnTomoXTilt")), S(-(w / 2), -(h / 2), -(d / 2)))))));
            var xf = s.Xf[i];
            for (int k = 0; k < 40; k++)
            {
                // A point of the tomogram (unbinned voxels); ours relative to the tomogram's centre (w/2, h/2, d/2).
                double X = w * rng.NextDouble(), Y = h * rng.NextDouble(), Z = d * rng.NextDouble();
                double rawX = P[0, 0] * X + P[0, 1] * Y + P[0, 2] * Z + P[0, 3], rawY = P[1, 0] * X + P[1, 1] * Y + P[1, 2] * Z + P[1, 3];
                // Our aligned position: the x-axis tilt, then the tilt about Y, about the image centre (NX/2, NY/2).
                double x = X - w / 2.0, y = Y - h / 2.0, z = Z - d / 2.0, phi = 2.5 * Math.PI / 180, t = s.Tilts[i] * Math.PI / 180;
                double y1 = y * Math.Cos(phi) - z * Math.Sin(phi), z1 = y * Math.Sin(phi) + z * Math.Cos(phi);
                double ax = 300 / 2.0 + x * Math.Cos(t) + z1 * Math.Sin(t), ay = 257 / 2.0 + y1;
                // RELION's raw position through our .xf (raw → aligned about the centre).
                double ux = xf.A11 * (rawX - 150) + xf.A12 * (rawY - 128.5) + xf.Dx + 150, uy = xf.A21 * (rawX - 150) + xf.A22 * (rawY - 128.5) + xf.Dy + 128.5;
                worst = Math.Max(worst, Math.Sqrt((ux - ax) * (ux - ax) + (uy - ay) * (uy - ay)));
            }
        }
        output.WriteLine($"thickness {thickness}, bin {bin}: largest difference {worst:E2} px");
        Assert.True(worst < 0.1, $"RELION's projection misses our aligned positions by up to {worst:F3} px");
    }

    [Fact]
    public void Relion5Star_ParsesWithGemmi_AndMergesSeriesInTomogramsStar()
    {
        MrcPython.RequireMrcfile();
        using var dir = new MrcTempDir();
        var s = Series(dir.Path);
        string relion = Path.Combine(dir.Path, "relion");
        AlignmentExport.WriteRelion(s, relion);
        AlignmentExport.WriteRelion(s with { Name = "other" }, relion);
        AlignmentExport.WriteRelion(s, relion);   // the same series again replaces its row
        const string script = """
import sys
try:
    import gemmi
except ImportError:
    print("gemmi missing: apt-get install python3-gemmi"); sys.exit(3)
doc = gemmi.cif.read(sys.argv[1] + "/tomograms.star")
t = doc.find_block("global").find("_rln", ["TomoName", "TomoSizeZ", "TomoTiltSeriesPixelSize", "TomoHand"])
print("rows", len(t), ",".join(r[0] for r in t), t[0][1], t[0][2], t[0][3])
b = gemmi.cif.read(sys.argv[1] + "/tilt_series/ts.star").find_block("ts")
v = b.find("_rln", ["TomoYTilt", "TomoZRot", "MicrographPreExposure", "TomoXShiftAngst"])
print("views", len(v), v[0][0], v[12][2])
""";
        var (code, text) = MrcPython.Run(script, relion);
        Assert.True(code == 0, text);
        output.WriteLine(text);
        Assert.Contains("rows 2 other,ts 51 2.7 -1", text);
        Assert.Contains($"views 13 {s.Tilts[0].ToString("0.######", Inv)} 36", text);
    }

    [Fact]
    public void TiltCom_SaysWhatOurTomogramIs_AndTheInputStackFilesExcludeTheViewsLeftOut()
    {
        using var dir = new MrcTempDir();
        var s = Series(dir.Path, thickness: 80, bin: 2) with
        {
            Log = true, InputStack = Path.Combine(dir.Path, "raw.st"), InputNz = 15,
            // The prepared stack holds input views 14, 0, 1, …, 12 (the raw stack's last view was the first in tilt order); 13 left out.
            InputViews = [14, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            Excluded = [(13, 62.0)],
        };
        var files = AlignmentExport.WriteTiltCom(s, dir.Path);
        string com = File.ReadAllText(Path.Combine(dir.Path, "ts.tilt.com"));
        // THICKNESS, OFFSET, SHIFT and FULLIMAGE in unbinned pixels (tilt divides them by IMAGEBINNED): 80 binned voxels are 160;
        // the binned stack is 150 × 128, so FULLIMAGE 300 256 (not 257: tilt's centre row would be half a binned row off).
        foreach (var line in new[] { "InputProjections ts.ali", "TILTFILE ts.tlt", "THICKNESS 160", "IMAGEBINNED 2", "FULLIMAGE 300 256", "XAXISTILT 2.50",
                     "OFFSET 0.0 1", "SHIFT 0 -1", "RADIAL 0.35 0.0495", "LOG 0.0", "SCALE 0.0 -1.0", "PERPENDICULAR" })
            Assert.Contains(line + "\n", com);
        Assert.DoesNotContain("FalloffIsTrueSigma", com);   // IMOD 4.8 refuses it ("Illegal option")
        Assert.DoesNotContain("\nEXCLUDELIST", com);   // ts.ali holds only the views aligned

        string input = File.ReadAllText(Path.Combine(dir.Path, "ts.input.tilt.com"));
        Assert.Contains("EXCLUDELIST 14\n", input);
        Assert.Contains("newstack -linear -xform ts.input.xf raw.st ts.input.full.ali\n#   newstack -bin 2 ts.input.full.ali ts.input.ali", input);
        var xf = ImodText.ReadXf(Path.Combine(dir.Path, "ts.input.xf"));
        var tlt = ImodText.ReadAngles(Path.Combine(dir.Path, "ts.input.tlt"));
        Assert.Equal(15, xf.Length);
        // ts.input.xf is for IMOD's newstack, whose centre is the 0-based pixel (NX/2 − 1/2, NY/2 − 1/2) (cubinterp: xcen = nx/2. + 0.5,
        // 1-based): it moves every pixel of the raw view where ours (about (NX/2, NY/2)) does, to the precision of the file.
        foreach (var (px, py) in new[] { (0.0, 0.0), (299.0, 256.0), (17.0, 203.0) })
        {
            var (ux, uy) = s.Xf[0].Apply(px, py, 300 / 2.0, 257 / 2.0);
            var (ix, iy) = xf[14].Apply(px, py, 300 / 2.0 - 0.5, 257 / 2.0 - 0.5);
            // The file keeps 3 decimals of the shift and 7 of the matrix: 0.002 px.
            Assert.True(Math.Abs(ux - ix) < 2e-3 && Math.Abs(uy - iy) < 2e-3, $"pixel ({px}, {py}): ours ({ux:F4}, {uy:F4}), IMOD's ({ix:F4}, {iy:F4})");
        }
        Assert.True(Math.Abs(s.Xf[0].Dx - xf[14].Dx) + Math.Abs(s.Xf[0].Dy - xf[14].Dy) > 0.5, "the rotation is about 85°: the two centres' shifts differ by ½·(A − I)·(1, 1), about 0.95 px");
        Assert.Equal(Xf.Identity, xf[13]);
        Assert.Equal(62.0, tlt[13]);
        Assert.Equal(Math.Round(s.Tilts[1], 2), tlt[0]);
        Assert.Equal(4, files.Count);
        Assert.Equal("1-3,7,9-10", AlignmentExport.ImodList([10, 1, 2, 3, 7, 9]));
    }

    /// <summary>
    /// tilt.com's entries, read with the meaning IMOD's tilt gives them (tilt.f90 of IMOD 4.8: the tilt axis in the input at
    /// column nxfull/2. + 0.5 + DELXX, the output's centre column iwidth/2 + 0.5 + DELXX + SHIFTX and centre row
    /// ithick/2 + 0.5 + SHIFTZ, all 1-based, after dividing THICKNESS, OFFSET, SHIFT and FULLIMAGE by IMAGEBINNED, integer
    /// divisions where tilt has them; a voxel of output row I at z = −(I − centre row), since tilt's sin β = −sin θ), put a
    /// specimen point (x, z) where Tomalign's WBP puts it: column x + w/2, and in the Y-slice layout row t − 1 − (z + t/2),
    /// 0-based; and its projection at tilt θ on the aligned stack's column x·cos θ + z·sin θ + w/2. Odd and even sizes and thicknesses.
    /// </summary>
    [Theory]
    [InlineData(300, 257, 1, 51)]
    [InlineData(300, 257, 2, 80)]
    [InlineData(301, 256, 1, 64)]
    [InlineData(512, 512, 4, 33)]
    [InlineData(250, 250, 2, 75)]   // binned width 125: odd
    public void TiltCom_EntriesMeanToTiltWhatTomalignsWbpDoes(int nx, int ny, int bin, int thickness)
    {
        using var dir = new MrcTempDir();
        var s = Series(dir.Path, thickness, bin) with { Nx = nx, Ny = ny };
        string com = AlignmentExport.TiltCom(s, "ts.ali", "ts.tlt", "ts_full_rec.mrc");
        double[] Entry(string key) => com.Split('\n').Single(l => l.StartsWith(key + " ", StringComparison.Ordinal))[(key.Length + 1)..]
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => double.Parse(v, Inv)).ToArray();
        int imageBinned = (int)Entry("IMAGEBINNED")[0];
        Assert.Equal(bin, imageBinned);
        int w = nx / bin, h = ny / bin;   // the aligned stack tilt reads (NAME.ali, binned)
        // tilt's own arithmetic on its entries.
        int ithick = (int)Entry("THICKNESS")[0] / imageBinned;
        int nxfull = ((int)Entry("FULLIMAGE")[0] + imageBinned - 1) / imageBinned, nyfull = ((int)Entry("FULLIMAGE")[1] + imageBinned - 1) / imageBinned;
        double axisXoffset = Entry("OFFSET")[1] / imageBinned, xoffset = Entry("SHIFT")[0] / imageBinned, yOffset = Entry("SHIFT")[1] / imageBinned;
        Assert.Equal(0.0, Entry("OFFSET")[0]);
        double xcenIn = nxfull / 2.0 + 0.5, xoffAdj = xoffset - (w / 2 - nxfull / 2);
        double xcenOut = w / 2 + 0.5 + axisXoffset + xoffAdj, ycenOut = ithick / 2 + 0.5 + yOffset;
        Assert.Equal(thickness, ithick);
        Assert.Equal(h, nyfull);   // the slices tilt reconstructs are the stack's rows
        foreach (var (x, z) in new[] { (0.0, 0.0), (17.3, -9.6), (-40.2, 12.25) })
        {
            // Tomalign: column x + w/2; Y-slice row t − 1 − (z + t/2) (0-based).
            double ourColumn = x + w / 2.0, ourRow = thickness - 1 - (z + thickness / 2.0);
            // tilt (1-based): the voxel of column j, row I is at x = j − xcenOut, z = −(I − ycenOut).
            Assert.Equal(ourColumn, x + xcenOut - 1, 9);
            Assert.Equal(ourRow, ycenOut - z - 1, 9);
            foreach (double theta in new[] { -60.0, -12.5, 0, 33.0, 60 })
            {
                double c = Math.Cos(theta * Math.PI / 180), sBeta = -Math.Sin(theta * Math.PI / 180);
                double j = ourColumn + 1, i = ourRow + 1;
                double tiltColumn = (j - xcenOut) * c + (i - ycenOut) * sBeta + xcenIn + axisXoffset - 1;   // 0-based
                Assert.Equal(x * c + z * Math.Sin(theta * Math.PI / 180) + w / 2.0, tiltColumn, 9);
            }
        }
        // XAXISTILT α: tilt's sinAlpha = −sin α, cosAlpha = cos α; a voxel yy rows from the slice centre and at tilt's zz projects
        // to column … + yy·sinAlpha·sinBeta + zz·cosAlpha·sinBeta and row yy·cosAlpha − zz·sinAlpha (about the centres): with
        // zz = −z that is Tomalign's depth yy·sin φ + z·cos φ along sin θ, and row yy·cos φ − z·sin φ, for φ = α.
        double alpha = Entry("XAXISTILT")[0] * Math.PI / 180, phi = s.XAxisTilts![0] * Math.PI / 180;
        foreach (var (yy, z, theta) in new[] { (12.0, -7.5, 40.0), (-30.0, 15.25, -55.0) })
        {
            double sinBeta = -Math.Sin(theta * Math.PI / 180), sinAlpha = -Math.Sin(alpha), cosAlpha = Math.Cos(alpha), zz = -z;
            double tiltDepthTerm = yy * sinAlpha * sinBeta + zz * cosAlpha * sinBeta, tiltRow = yy * cosAlpha - zz * sinAlpha;
            Assert.Equal((yy * Math.Sin(phi) + z * Math.Cos(phi)) * Math.Sin(theta * Math.PI / 180), tiltDepthTerm, 2);
            Assert.Equal(yy * Math.Cos(phi) - z * Math.Sin(phi), tiltRow, 2);
        }
        // RADIAL: tilt's exp(−((ν − ν_c)/f)²) is Tomalign's exp(−(ν − ν_c)²/2σ²) with σ = 0.035.
        Assert.Equal(0.35, Entry("RADIAL")[0]);
        Assert.Equal(0.035, Entry("RADIAL")[1] / Math.Sqrt(2), 4);
    }

    [Fact]
    public void Aln_ForTheInputStack_HasTheViewsLeftOutAsDarkFrames()
    {
        var xfs = new[] { Xf.RotationScale(5, 1, 1, 2).Inverse(), Xf.RotationScale(6, 1, -1, 0).Inverse(), Xf.RotationScale(7, 1, 0, 3).Inverse() };
        // Prepared views 0, 1, 2 are the input views 2, 0, 3; input view 1 was left out.
        var aln = AreTomoAln.FromImodForInput(xfs, [-20.0, 0.0, 20.0], 64, 64, [2, 0, 3], 4, [(1, 10.0)]);
        using var dir = new MrcTempDir();
        string path = dir.File("ts.aln");
        aln.Write(path);
        var back = AreTomoAln.Read(path);
        Assert.Equal(4, back.RawNz);
        Assert.Equal(1, back.DarkFrames.Single().RawIndex);
        Assert.Equal([0, 2, 3], back.RawIndexes());
        var (imodXf, tilts) = back.ToImod();
        Assert.Equal([0.0, 10.0, -20.0, 20.0], tilts.Select(t => Math.Round(t, 2)).ToArray());
        foreach (var (k, input) in new[] { (0, 2), (1, 0), (2, 3) })
        {
            var a = xfs[k].ApplyCentred(10, -5);
            var b = imodXf[input].ApplyCentred(10, -5);
            Assert.True(Math.Abs(a.X - b.X) < 0.01 && Math.Abs(a.Y - b.Y) < 0.01, $"prepared view {k}");
        }
    }
}
